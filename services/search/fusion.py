"""Reciprocal-rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009)."""

from __future__ import annotations

from collections.abc import Sequence


def rrf(rankings: Sequence[Sequence[int]], k: int = 60) -> list[tuple[int, float]]:
    """Fuse rankings of document indices (best first) into (doc, score) pairs, best first.

    score(doc) = Σ over rankings of 1 / (k + rank), rank 1-based; a ranking that lists a doc twice
    counts its first place only. Equal scores go to the doc with the better best single rank,
    then to the lower doc index, so the order never depends on dict or set iteration.
    """
    scores: dict[int, float] = {}
    best: dict[int, int] = {}
    for ranking in rankings:
        seen: set[int] = set()
        for rank, doc in enumerate(ranking, start=1):
            if doc in seen:
                continue
            seen.add(doc)
            scores[doc] = scores.get(doc, 0.0) + 1.0 / (k + rank)
            best[doc] = min(best.get(doc, rank), rank)
    order = sorted(scores, key=lambda doc: (-scores[doc], best[doc], doc))
    return [(doc, scores[doc]) for doc in order]
