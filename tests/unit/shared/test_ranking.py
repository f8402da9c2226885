"""The served order: a combiner over the top N, the blend for a cross-encoder alone, fusion otherwise."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shared.artifacts import ArtifactError
from shared.combiner import META_FILE, Combiner
from shared.ranking import needs_cross_encoder, served_order
from shared.schemas import Candidate
from tests.combiner_fixtures import write_combiner

PATHS = ["src/cache.py", "tests/test_cache.py", "docs/cache.md", "src/store.py", "tests/test_store.py"]


def candidates() -> list[Candidate]:
    return [
        Candidate(
            doc_id=f"{path}:1-9",
            repo="r",
            path=path,
            start_line=1,
            end_line=9,
            language="python",
            chunk_kind="function",
            content_hash=path,
            text=f"def f{rank}():\n    return {rank}\n",
            fusion_rank=rank,
            fusion_score=1 / (60 + rank),
            bm25_rank=rank,
            bm25_score=5.0 / rank,
            vector_rank=rank,
            vector_score=0.8 - 0.1 * rank,
            symbol=f"f{rank}",
        )
        for rank, path in enumerate(PATHS, start=1)
    ]


def test_a_combiner_orders_the_top_n_and_leaves_the_rest_in_fusion_order(tmp_path):
    write_combiner(tmp_path, {"file_test": 5.0, "fusion_rank_log": -1.0})
    combiner = Combiner(tmp_path)
    assert not needs_cross_encoder(combiner)
    ranked = served_order("cache", candidates(), top_n=4, combiner=combiner)
    assert [p for p, _ in ranked] == [1, 0, 2, 3, 4]  # the test file first; position 4 is below the top 4
    scores = [s for _, s in ranked]
    assert scores == sorted(scores, reverse=True) and scores[0] == pytest.approx(1 / 61)


def test_a_combiner_that_uses_the_cross_encoder_needs_its_scores(tmp_path):
    write_combiner(tmp_path, {"ce_logit": 1.0}, uses_cross_encoder=True)
    combiner = Combiner(tmp_path)
    assert needs_cross_encoder(combiner)
    with pytest.raises(ValueError, match="pass ce_scores"):
        served_order("q", candidates(), 5, combiner=combiner)
    ranked = served_order("q", candidates(), 5, combiner=combiner, ce_scores=[0.1, 0.2, 3.0, -1.0, 0.0])
    assert [p for p, _ in ranked] == [2, 1, 0, 4, 3]


def test_without_a_combiner_the_blend_or_fusion_order_serves():
    cands = candidates()
    assert needs_cross_encoder(None)
    assert [p for p, _ in served_order("q", cands, 5)] == [0, 1, 2, 3, 4]
    blended = served_order("q", cands, 5, ce_scores=np.array([0.0, 0.0, 9.0, 0.0, 0.0]))
    assert [p for p, _ in blended][:3] == [0, 2, 1]  # fusion's best stays first; the CE's best rises


def test_a_combiner_trained_on_other_features_is_refused(tmp_path):
    write_combiner(tmp_path, {"file_test": 1.0})
    meta = json.loads((tmp_path / META_FILE).read_text())
    meta["features"] = meta["features"][:-1]
    (tmp_path / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="trained on features"):
        Combiner(tmp_path)
