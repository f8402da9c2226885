"""The fused-rank blend: exact orders by hand, and agreement with retrieval's own RRF."""

from __future__ import annotations

import random

import numpy as np
import pytest

from services.search.fusion import rrf
from shared.blend import blend, blend_with_scores

FUSION = [10, 11, 12, 13, 14]


def test_cross_encoder_reorders_the_top_n_blended_with_fusion_and_the_rest_keeps_fusion_order():
    # CE ranks 11 first, 12 second, 10 third: 11 = 1/62 + 1/61 beats 10 = 1/61 + 1/63
    assert blend(FUSION, np.array([0.1, 0.9, 0.5]), top_n=3) == [11, 10, 12, 13, 14]


def test_a_candidate_ranked_first_by_the_cross_encoder_climbs_only_as_far_as_fusion_allows():
    # 14 (fusion 5, CE 1) = 1/65 + 1/61 beats 12 (fusion 3, CE 4) = 1/63 + 1/64, not 11 (1/62 + 1/63)
    assert blend(FUSION, [0.0, 0.0, 0.0, 0.0, 1.0], top_n=5) == [10, 11, 14, 12, 13]


def test_ties_go_to_the_better_fusion_rank():
    # 10 (fusion 1, CE 2) and 11 (fusion 2, CE 1) score the same: fusion decides
    assert blend(FUSION, [0.0, 1.0], top_n=2) == FUSION
    # equal cross-encoder scores: fusion order among them
    assert blend(FUSION, [3.0, 3.0, 3.0], top_n=3) == FUSION


def test_scores_are_the_reciprocal_rank_sums():
    scored = dict(blend_with_scores(FUSION, [0.1, 0.9, 0.5], top_n=3, k=60))
    assert scored[11] == pytest.approx(1 / 62 + 1 / 61)
    assert scored[10] == pytest.approx(1 / 61 + 1 / 63)
    assert scored[13] == pytest.approx(1 / 64)  # below the top N: fusion's term only
    assert blend_with_scores(FUSION, [0.1, 0.9, 0.5], top_n=3, k=1)[0] == (11, pytest.approx(1 / 3 + 1 / 2))


def test_no_reranking_when_top_n_is_zero_and_a_short_list_is_reordered_whole():
    assert blend(FUSION, [], top_n=0) == FUSION
    assert blend([7, 8], [0.0, 5.0], top_n=20) == [7, 8]  # tie: 1/61 + 1/62 both
    assert blend([7, 8, 9], [0.0, 0.0, 5.0], top_n=20) == [7, 9, 8]
    assert blend([], [], top_n=20) == []


@pytest.mark.parametrize(
    ("order", "scores", "top_n", "complaint"),
    [
        (FUSION, [1.0, 2.0], 3, "expected 3 cross-encoder scores"),
        (FUSION, [1.0] * 5, 3, "expected 3 cross-encoder scores"),
        ([1, 2, 1], [1.0, 2.0, 3.0], 3, "twice"),
        (FUSION, [1.0, float("nan"), 0.0], 3, "finite"),
        (FUSION, [], -1, "top_n"),
    ],
)
def test_inputs_that_cannot_be_blended_are_refused(order, scores, top_n, complaint):
    with pytest.raises(ValueError, match=complaint):
        blend(order, scores, top_n)


def test_equals_rrf_of_the_fusion_ranking_and_the_cross_encoder_ranking_of_the_top_n():
    rng = random.Random(5)
    for _ in range(300):
        n = rng.randint(1, 40)
        top_n = rng.randint(1, 25)
        head = min(n, top_n)
        scores = [float(rng.choice([rng.random(), 0.5])) for _ in range(head)]  # some ties too
        ce_order = sorted(range(head), key=lambda i: (-scores[i], i))
        expected = [doc for doc, _ in rrf([list(range(n)), ce_order], k=60)]
        assert blend(range(n), scores, top_n) == expected
