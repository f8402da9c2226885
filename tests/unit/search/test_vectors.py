import itertools

import numpy as np
import pytest

from services.search.vectors import nearest, top_k


def unit_rows(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def brute_force(vectors, query, k, mask=None):
    scores = vectors @ query
    docs = [i for i in range(len(vectors)) if mask is None or mask[i]]
    docs.sort(key=lambda i: (-scores[i], i))
    return docs[:k]


def test_nearest_matches_a_full_sort():
    vectors = unit_rows(500, 32)
    query = vectors[17]
    hits = nearest(vectors, query, 10)
    assert [doc for doc, _ in hits] == brute_force(vectors, query, 10)
    assert hits[0] == (17, pytest.approx(1.0))
    assert all(a[1] >= b[1] for a, b in itertools.pairwise(hits))


def test_mask_restricts_the_candidates():
    vectors = unit_rows(500, 32)
    mask = np.zeros(500, dtype=bool)
    mask[::7] = True
    query = vectors[17]  # not in the mask
    hits = nearest(vectors, query, 10, mask)
    assert [doc for doc, _ in hits] == brute_force(vectors, query, 10, mask)
    assert all(doc % 7 == 0 for doc, _ in hits)


def test_k_larger_than_the_candidates_and_empty_inputs():
    vectors = unit_rows(5, 8)
    assert len(nearest(vectors, vectors[0], 50)) == 5
    assert nearest(vectors, vectors[0], 3, np.zeros(5, dtype=bool)) == []
    assert nearest(np.zeros((0, 8), dtype=np.float32), vectors[0], 3) == []
    assert nearest(vectors, vectors[0], 0) == []


def test_top_k_breaks_ties_by_index_even_at_the_cut():
    scores = np.array([0.5, 0.9, 0.5, 0.5, 0.9, 0.1], dtype=np.float32)
    assert top_k(scores, 3) == [(1, pytest.approx(0.9)), (4, pytest.approx(0.9)), (0, 0.5)]
    assert [doc for doc, _ in top_k(scores, 4)] == [1, 4, 0, 2]


def test_top_k_positive_only():
    scores = np.array([0.0, 2.0, -1.0, 1.0], dtype=np.float32)
    assert top_k(scores, 10, positive=True) == [(1, 2.0), (3, 1.0)]
    mask = np.array([True, False, True, True])
    assert top_k(scores, 10, mask, positive=True) == [(3, 1.0)]
