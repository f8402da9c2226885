import pytest

from services.search.fusion import rrf


def test_scores_are_sums_of_reciprocal_ranks():
    fused = dict(rrf([[7, 3, 5], [3, 9]], k=60))
    assert fused == pytest.approx({3: 1 / 62 + 1 / 61, 7: 1 / 61, 9: 1 / 62, 5: 1 / 63})


def test_sorted_by_score_with_ties_by_doc_index():
    # 1 and 2 both score 1/61, 9 and 4 both 1/62: equal best ranks too, so the lower index first.
    assert [doc for doc, _ in rrf([[1, 9, 5], [2, 4]], k=60)] == [1, 2, 4, 9, 5]


def test_equal_scores_go_to_the_better_single_rank_first():
    a, b = 50, 40  # b has the lower index, a the better single rank
    # k=0 keeps the sums exact: a = 1/2 + 1/4, b = 1/4 + 1/4 + 1/4, both 0.75.
    fused = rrf([[1, a, 2, b], [3, 4, 5, a], [6, 7, 8, b], [9, 10, 11, b]], k=0)
    scores = dict(fused)
    assert scores[a] == scores[b] == 0.75
    order = [doc for doc, _ in fused]
    assert order.index(a) < order.index(b)


def test_duplicates_in_one_ranking_count_once():
    assert dict(rrf([[4, 4, 2]], k=60)) == pytest.approx({4: 1 / 61, 2: 1 / 63})


def test_empty_input():
    assert rrf([]) == []
    assert rrf([[], []]) == []
