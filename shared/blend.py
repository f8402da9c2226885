"""The fused-rank blend: what a replica serves while the reranker is a cross-encoder alone.

The cross-encoder never replaces the retrieval order on its own. It reorders the first `top_n`
candidates of the fusion order, and its ranking is fused with the fusion ranking by reciprocal
rank (k=60, as retrieval fuses BM25 and vectors):

    score(c) = 1 / (k + fusion rank of c) + 1 / (k + cross-encoder rank of c)   for c in the top N
    score(c) = 1 / (k + fusion rank of c)                                       below the top N

A candidate below the top N has one term, less than any top-N candidate's two, so the rest keep
their fusion order after the blended top N. Equal scores go to the better fusion rank; equal
cross-encoder scores to the better fusion rank too. Search replicas and the evaluator both call
`blend`, so what is evaluated is exactly what is served.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RRF_K = 60


def blend_with_scores(
    fusion_order: Sequence[int], ce_scores: np.ndarray | Sequence[float], top_n: int, k: int = RRF_K
) -> list[tuple[int, float]]:
    """(candidate, blended score) pairs, best first.

    fusion_order: candidate ids (any distinct ints) in fusion order, best first.
    ce_scores: the cross-encoder's score of each of the first `min(top_n, len(fusion_order))`
    candidates of `fusion_order`, in that order (higher: more relevant).
    """
    if top_n < 0 or k <= 0:
        raise ValueError(f"need top_n >= 0 and k > 0, got top_n={top_n}, k={k}")
    if len(set(fusion_order)) != len(fusion_order):
        raise ValueError("fusion_order lists a candidate twice")
    head = min(top_n, len(fusion_order))
    scores = np.asarray(ce_scores, dtype=np.float64).reshape(-1)
    if len(scores) != head:
        raise ValueError(f"expected {head} cross-encoder scores (the top {top_n}), got {len(scores)}")
    if not np.all(np.isfinite(scores)):
        raise ValueError("cross-encoder scores must be finite")
    by_score = sorted(range(head), key=lambda i: (-scores[i], i))  # ties: the better fusion rank
    ce_rank = {position: rank for rank, position in enumerate(by_score, start=1)}
    blended = [
        (position, 1.0 / (k + position + 1) + (1.0 / (k + ce_rank[position]) if position < head else 0.0))
        for position in range(len(fusion_order))
    ]
    blended.sort(key=lambda item: (-item[1], item[0]))
    return [(fusion_order[position], score) for position, score in blended]


def blend(
    fusion_order: Sequence[int], ce_scores: np.ndarray | Sequence[float], top_n: int, k: int = RRF_K
) -> list[int]:
    """The candidates of `fusion_order` in served order (see `blend_with_scores`)."""
    return [candidate for candidate, _ in blend_with_scores(fusion_order, ce_scores, top_n, k)]
