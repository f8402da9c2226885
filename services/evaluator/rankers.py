"""The rankings compared: fusion order, and a cross-encoder as served (the fused-rank blend) or alone.

A ranker takes a question and its candidates in fusion order and returns candidate positions
(indices into that list), best first. Every ranker reorders the same candidates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from shared.blend import blend
from shared.schemas import Candidate

Ranker = Callable[[str, Sequence[Candidate]], list[int]]


class Scorer(Protocol):
    """What `shared.scoring.CrossEncoderScorer` offers: one score per text, higher is better."""

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray: ...


def fusion_order(query: str, candidates: Sequence[Candidate]) -> list[int]:
    """No reranker: the retrieval order."""
    return list(range(len(candidates)))


def served(scorer: Scorer, top_n: int) -> Ranker:
    """What a replica serves: the cross-encoder's ranking of the top N blended with fusion's."""

    def rank(query: str, candidates: Sequence[Candidate]) -> list[int]:
        head = candidates[:top_n]
        return blend(range(len(candidates)), scorer.score(query, [c.text for c in head]), top_n)

    return rank


def cross_encoder_alone(scorer: Scorer, top_n: int) -> Ranker:
    """The top N in cross-encoder order (ties: fusion order), the rest after in fusion order."""

    def rank(query: str, candidates: Sequence[Candidate]) -> list[int]:
        head = min(top_n, len(candidates))
        scores = scorer.score(query, [c.text for c in candidates[:head]])
        return sorted(range(head), key=lambda i: (-scores[i], i)) + list(range(head, len(candidates)))

    return rank
