"""A replica's metrics: each search counted by outcome, its stages timed, what it serves shown."""

from __future__ import annotations

import uuid

import msgspec
import pytest

from services.search.replica import Replica
from services.search.reranking import BLEND, LoadedReranker
from services.search.settings import SearchSettings
from shared.combiner import Combiner
from shared.schemas import IndexUpdated, SearchReply, SearchRequest
from tests.combiner_fixtures import write_combiner
from tests.prometheus_samples import sample
from tests.unit.search.test_reranking import FakeScorer, HashEmbedder
from tests.unit.search.test_reranking import index as index  # the module's fixture, reused

STAGES = ("retrieval", "cross_encoder", "features", "total")


def make_replica(index, **settings) -> Replica:
    """A replica of its own (a fresh replica id, so its metrics start at zero)."""
    replica_id = f"metrics-{uuid.uuid4().hex[:8]}"
    replica = Replica(SearchSettings(replica_id=replica_id, **settings), HashEmbedder())  # type: ignore[arg-type]
    pointer = IndexUpdated(timestamp=0.0, version="idx1", sha256="0" * 64, chunks=len(index.chunks), repos={})
    replica.swap(index, pointer)
    return replica


def search(replica: Replica, query: str = "where is the password hashed", **request) -> SearchReply:
    data, _ = replica.search(msgspec.json.encode(SearchRequest(query=query, **request)))
    return msgspec.json.decode(data, type=SearchReply)


def counts(replica: Replica) -> dict[str, float]:
    """Observations per stage, and searches per outcome."""
    r = replica.replica_id
    found = {stage: sample("codesift_search_stage_seconds_count", replica=r, stage=stage) for stage in STAGES}
    for outcome in ("ok", "refused", "error"):
        found[outcome] = sample("codesift_searches_total", replica=r, outcome=outcome)
    return found


def test_a_fusion_search_times_retrieval_and_total_only(index):
    replica = make_replica(index)
    for _ in range(3):
        assert search(replica).response is not None
    assert counts(replica) == {"retrieval": 3, "cross_encoder": 0, "features": 0, "total": 3} | {
        "ok": 3, "refused": 0, "error": 0
    }  # fmt: skip
    r = replica.replica_id
    retrieval = sample("codesift_search_stage_seconds_sum", replica=r, stage="retrieval")
    total = sample("codesift_search_stage_seconds_sum", replica=r, stage="total")
    assert 0 < retrieval <= total


def test_the_blend_times_the_cross_encoder_and_a_combiner_times_its_features(index, tmp_path):
    blend = make_replica(index, reranker_topn=6)
    blend.swap_reranker(LoadedReranker("v1", "ab" * 32, FakeScorer()))  # type: ignore[arg-type]
    search(blend)
    assert counts(blend) == {"retrieval": 1, "cross_encoder": 1, "features": 0, "total": 1} | {
        "ok": 1, "refused": 0, "error": 0
    }  # fmt: skip

    combined = make_replica(index, reranker_topn=6)
    weights = {"ce_logit": 1.0}
    combiner = Combiner(write_combiner(tmp_path / "ce", weights, uses_cross_encoder=True, kind="lambdamart"))
    combined.swap_reranker(LoadedReranker("v2", "cd" * 32, FakeScorer(), combiner))  # type: ignore[arg-type]
    search(combined)
    search(combined)  # the second is served from the score cache: still a cross-encoder stage
    assert counts(combined) == {"retrieval": 2, "cross_encoder": 2, "features": 2, "total": 2} | {
        "ok": 2, "refused": 0, "error": 0
    }  # fmt: skip


def test_refused_and_failed_searches_are_counted_without_stages(index):
    replica = make_replica(index, reranker_topn=6)
    assert search(replica, repo="nowhere").error is not None  # an unknown repository
    empty = Replica(SearchSettings(replica_id=f"metrics-{uuid.uuid4().hex[:8]}"), HashEmbedder())  # type: ignore[arg-type]
    assert search(empty).error is not None  # nothing indexed yet

    class Broken(FakeScorer):
        def score(self, query, texts):
            raise RuntimeError("onnxruntime failed")

    replica.swap_reranker(LoadedReranker("v1", "ab" * 32, Broken()))  # type: ignore[arg-type]
    with pytest.raises(RuntimeError):
        search(replica)
    assert counts(replica) == dict.fromkeys(STAGES, 0) | {"ok": 0, "refused": 1, "error": 1}
    assert counts(empty)["refused"] == 1


def test_the_model_and_index_served_are_shown_with_when_the_model_came(index):
    replica = make_replica(index)
    r = replica.replica_id
    assert sample("codesift_reranker_info", replica=r, version="none", kind="none") == 1
    assert sample("codesift_reranker_loaded_timestamp_seconds", replica=r) == replica.started_at
    assert sample("codesift_index_info", replica=r, version="idx1") == 1
    assert sample("codesift_index_chunks", replica=r) == len(index.chunks)

    replica.swap_reranker(LoadedReranker("v7", "ab" * 32, FakeScorer()))  # type: ignore[arg-type]
    assert sample("codesift_reranker_info", replica=r, version="v7", kind=BLEND) == 1
    assert sample("codesift_reranker_info", replica=r, version="none", kind="none") == 0  # replaced
    assert sample("codesift_reranker_loaded_timestamp_seconds", replica=r) == replica.reranker_since
    replica.swap_reranker(None)
    assert sample("codesift_reranker_info", replica=r, version="none", kind="none") == 1
    assert sample("codesift_reranker_info", replica=r, version="v7", kind=BLEND) == 0


def test_with_metrics_off_a_replica_records_nothing(index):
    replica = make_replica(index, metrics=False)
    assert replica.metrics is None
    assert search(replica).response is not None
    assert counts(replica) == dict.fromkeys([*STAGES, "ok", "refused", "error"], 0)
    assert sample("codesift_reranker_info", replica=replica.replica_id, version="none", kind="none") == 0
