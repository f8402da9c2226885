"""The rankings compared: fusion order, a model as served, and a cross-encoder alone.

A ranker takes a question and its candidates in fusion order and returns candidate positions
(indices into that list), best first. Every ranker reorders the same candidates. A model as
served is `shared.ranking.served_order`, the function replicas call: its learned combiner (with
the cross-encoder's scores only when it uses them), else the fused-rank blend.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from shared.combiner import Combiner, has_combiner, read_meta
from shared.ranking import needs_cross_encoder, served_order
from shared.schemas import Candidate

Ranker = Callable[[str, Sequence[Candidate]], list[int]]


class Scorer(Protocol):
    """What `shared.scoring.CrossEncoderScorer` offers: one score per text, higher is better."""

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray: ...


def pipeline_name(model_dir: Path | None) -> str:
    """How a model orders candidates, in the words replicas use in their reranker label."""
    if model_dir is None:
        return "fusion order"
    if not has_combiner(model_dir):
        return "fused-rank blend"
    uses = read_meta(model_dir).get("uses_cross_encoder")
    return "learned combiner + cross-encoder" if uses else "learned combiner"


def fusion_order(query: str, candidates: Sequence[Candidate]) -> list[int]:
    """No reranker: the retrieval order."""
    return list(range(len(candidates)))


def served(scorer: Scorer | None, top_n: int, combiner: Combiner | None = None) -> Ranker:
    """What a replica serves for a model: its combiner, or the cross-encoder blended with fusion.

    scorer: the model's cross-encoder; None when its combiner does not use one (never scored).
    """
    if needs_cross_encoder(combiner) and scorer is None:
        raise ValueError("this model ranks with its cross-encoder's scores: pass its scorer")
    score = scorer.score if scorer is not None and needs_cross_encoder(combiner) else None

    def rank(query: str, candidates: Sequence[Candidate]) -> list[int]:
        ce_scores = score(query, [c.text for c in candidates[:top_n]]) if score is not None else None
        order = served_order(query, candidates, top_n, combiner=combiner, ce_scores=ce_scores)
        return [position for position, _ in order]

    return rank


def cross_encoder_alone(scorer: Scorer, top_n: int) -> Ranker:
    """The top N in cross-encoder order (ties: fusion order), the rest after in fusion order."""

    def rank(query: str, candidates: Sequence[Candidate]) -> list[int]:
        head = min(top_n, len(candidates))
        scores = scorer.score(query, [c.text for c in candidates[:head]])
        return sorted(range(head), key=lambda i: (-scores[i], i)) + list(range(head, len(candidates)))

    return rank
