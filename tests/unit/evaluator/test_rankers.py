"""Rankers reorder the same candidates: fusion order, a model as served, cross-encoder alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.evaluator.rankers import cross_encoder_alone, fusion_order, pipeline_name, served
from shared.blend import blend
from shared.combiner import Combiner
from tests.combiner_fixtures import write_combiner
from tests.unit.evaluator.canned import TARGET, KeywordScorer, question_set


def test_fusion_order_keeps_the_retrieval_order():
    _, [found] = question_set([4], size=6)
    assert fusion_order("q", found) == [0, 1, 2, 3, 4, 5]


def test_served_scores_only_the_top_n_and_blends_them_with_fusion():
    _, [found] = question_set([5], size=30)
    scorer = KeywordScorer(1.0)
    order = served(scorer, top_n=20)("where", found)
    [(query, texts)] = scorer.calls
    assert query == "where" and texts == [c.text for c in found[:20]]
    expected = blend(range(30), np.array([1.0 if TARGET in t else 0.0 for t in texts]), 20)
    assert order == expected
    assert order[:4] == [0, 1, 4, 2]  # fusion 5 with CE 1 passes fusion 3 (1/65 + 1/61 > 1/63 + 1/64)
    assert order[20:] == list(range(20, 30))


def test_served_leaves_a_target_below_the_top_n_where_fusion_put_it():
    _, [found] = question_set([25], size=30)
    order = served(KeywordScorer(1.0), top_n=20)("q", found)
    assert order.index(24) == 24


def test_cross_encoder_alone_puts_its_favourite_first_and_keeps_the_rest_in_fusion_order():
    _, [found] = question_set([7], size=30)
    order = cross_encoder_alone(KeywordScorer(1.0), top_n=20)("q", found)
    assert order == [6, 0, 1, 2, 3, 4, 5, *range(7, 30)]
    order = cross_encoder_alone(KeywordScorer(-1.0), top_n=10)("q", found)
    assert order == [0, 1, 2, 3, 4, 5, 7, 8, 9, 6, *range(10, 30)]


# ---------------------------------------------------------------- a model with a learned combiner

INVERTS_FUSION = {"fusion_rank_log": 1.0}  # the worse the fusion rank, the higher the score
FOLLOWS_CE = {"ce_logit": 1.0, "fusion_rank_log": -0.01}  # the cross-encoder's favourite, then fusion


def combiner(tmp_path: Path, weights: dict[str, float], uses_cross_encoder: bool = False) -> Combiner:
    return Combiner(write_combiner(tmp_path / "combiner", weights, uses_cross_encoder=uses_cross_encoder))


def test_served_with_a_combiner_orders_the_top_n_by_it_and_never_runs_an_unused_cross_encoder(tmp_path):
    _, [found] = question_set([3], size=30)
    scorer = KeywordScorer(1.0)
    order = served(scorer, top_n=20, combiner=combiner(tmp_path, INVERTS_FUSION))("q", found)
    assert order == [*range(19, -1, -1), *range(20, 30)]
    assert scorer.calls == []
    assert served(None, top_n=20, combiner=combiner(tmp_path / "again", INVERTS_FUSION))("q", found) == order


def test_served_with_a_combiner_that_uses_the_cross_encoder_scores_the_top_n(tmp_path):
    _, [found] = question_set([7], size=30)
    scorer = KeywordScorer(1.0)
    order = served(scorer, top_n=20, combiner=combiner(tmp_path, FOLLOWS_CE, uses_cross_encoder=True))(
        "q", found
    )
    assert scorer.calls == [("q", [c.text for c in found[:20]])]
    assert order == [6, 0, 1, 2, 3, 4, 5, *range(7, 30)]  # not the blend: the combiner alone decides


def test_a_model_that_ranks_with_its_cross_encoder_needs_a_scorer(tmp_path):
    with pytest.raises(ValueError, match="pass its scorer"):
        served(None, top_n=20)
    with pytest.raises(ValueError, match="pass its scorer"):
        served(None, top_n=20, combiner=combiner(tmp_path, FOLLOWS_CE, uses_cross_encoder=True))


def test_pipeline_names_say_how_each_model_orders(tmp_path):
    write_combiner(tmp_path / "combiner", INVERTS_FUSION)
    write_combiner(tmp_path / "with-ce", FOLLOWS_CE, uses_cross_encoder=True)
    (tmp_path / "cross-encoder").mkdir()
    assert pipeline_name(None) == "fusion order"
    assert pipeline_name(tmp_path / "cross-encoder") == "fused-rank blend"
    assert pipeline_name(tmp_path / "combiner") == "learned combiner"
    assert pipeline_name(tmp_path / "with-ce") == "learned combiner + cross-encoder"
