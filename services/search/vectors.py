"""Exact nearest neighbours over unit vectors, and the top-k selection every retriever shares.

At the sizes one machine indexes (tens of thousands of chunks x 384 floats) a matrix-vector
product plus `argpartition` takes well under 2 ms, so no approximate index is needed.
"""

from __future__ import annotations

import numpy as np


def top_k(
    scores: np.ndarray, k: int, mask: np.ndarray | None = None, *, positive: bool = False
) -> list[tuple[int, float]]:
    """The k best (index, score) pairs, best first; equal scores go by index.

    `mask` (boolean, one per score) restricts the candidates; `positive` keeps only scores > 0.
    """
    candidates = np.flatnonzero(mask) if mask is not None else None
    values = scores[candidates] if candidates is not None else scores
    if positive:
        kept = np.flatnonzero(values > 0)
        candidates = kept if candidates is None else candidates[kept]
        values = values[kept]
    k = min(k, len(values))
    if k <= 0:
        return []
    if k < len(values):
        threshold = values[np.argpartition(-values, k - 1)[k - 1]]
        chosen = np.flatnonzero(values >= threshold)  # ties at the boundary are settled below
    else:
        chosen = np.arange(len(values))
    chosen = chosen[np.lexsort((chosen, -values[chosen]))][:k]
    indices = chosen if candidates is None else candidates[chosen]
    return list(zip(indices.tolist(), values[chosen].tolist(), strict=True))


def nearest(
    vectors: np.ndarray, query: np.ndarray, k: int, mask: np.ndarray | None = None
) -> list[tuple[int, float]]:
    """The k rows of `vectors` (unit float32 rows) with the highest cosine to the unit `query`."""
    if len(vectors) == 0:
        return []
    return top_k(vectors @ query.astype(np.float32, copy=False), k, mask)
