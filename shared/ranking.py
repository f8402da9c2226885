"""The served order of a query's candidates: what replicas answer and what the evaluator measures.

Three ways, by what the production model holds:

- a learned combiner (`shared.combiner`): it scores the first `top_n` fusion candidates from
  their feature rows (`shared.features`, with the cross-encoder's logits when it uses them) and
  they are served in that order; the rest follow in fusion order;
- a cross-encoder alone: the fused-rank blend (`shared.blend`) — its ranking never replaces the
  retrieval order on its own;
- nothing: fusion order.

The score shown with a result is 1 / (60 + served rank) for a combiner (its raw scores mean
nothing to a reader and do not compare across queries), the blended score for the blend.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shared.blend import RRF_K, blend_with_scores
from shared.combiner import Combiner
from shared.features import feature_matrix
from shared.schemas import Candidate


def needs_cross_encoder(combiner: Combiner | None) -> bool:
    """Whether the cross-encoder must score the top N for this model."""
    return combiner is None or combiner.uses_cross_encoder


def served_order(
    query: str,
    candidates: Sequence[Candidate],
    top_n: int,
    *,
    combiner: Combiner | None = None,
    ce_scores: Sequence[float] | np.ndarray | None = None,
) -> list[tuple[int, float]]:
    """(position in `candidates`, shown score), best first; `candidates` in fusion order.

    ce_scores: the cross-encoder's logits of the first min(top_n, len(candidates)) candidates,
    or None when the model has no cross-encoder (or its combiner does not use it).
    """
    head = min(top_n, len(candidates))
    if combiner is None:
        if ce_scores is None:
            return [(i, c.fusion_score) for i, c in enumerate(candidates)]
        return blend_with_scores(range(len(candidates)), ce_scores, top_n)
    if combiner.uses_cross_encoder and ce_scores is None:
        raise ValueError("this combiner uses cross-encoder logits: pass ce_scores")
    rows = feature_matrix(query, candidates[:head], ce_scores if combiner.uses_cross_encoder else None)
    scores = combiner.score(rows)
    order = sorted(range(head), key=lambda i: (-scores[i], i)) + list(range(head, len(candidates)))
    return [(position, 1.0 / (RRF_K + rank)) for rank, position in enumerate(order, start=1)]
