"""Rankers reorder the same candidates: fusion order, served blend, cross-encoder alone."""

from __future__ import annotations

import numpy as np

from services.evaluator.rankers import cross_encoder_alone, fusion_order, served
from shared.blend import blend
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
