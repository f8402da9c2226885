"""Ranking metrics for golden-question evals: MRR@10, Hit@K, nDCG@10, and a paired bootstrap.

Relevance is binary: a result is relevant when its file path contains any of the question's
`expect_paths` substrings. Every metric reads the ranking in the order it is given (rank 1 first);
nothing is re-sorted by score. Each position is judged on its own, as ir-measures judges each
doc id: two chunks of the same relevant file are two relevant results.

The values equal ir-measures' `RR@10`, `Success@K` and `nDCG@10` for a run whose scores strictly
decrease down the ranking and whose qrels hold the judgement of every retrieved doc
(tests/unit/shared/test_metrics.py checks this).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CUTOFF = 10
HIT_CUTOFFS = (1, 3, 5, 10)
METRIC_NAMES = ("mrr", "hit_at_1", "hit_at_3", "hit_at_5", "hit_at_10", "ndcg_at_10")


def is_relevant(path: str, expect_paths: Sequence[str]) -> bool:
    """True when `path` contains any of `expect_paths`; an empty substring matches nothing."""
    return any(expected and expected in path for expected in expect_paths)


def judge(paths: Sequence[str], expect_paths: Sequence[str]) -> list[bool]:
    """The relevance of each ranked path."""
    return [is_relevant(path, expect_paths) for path in paths]


def _first_rank(relevance: Sequence[bool], k: int) -> int | None:
    return next((rank for rank, relevant in enumerate(relevance[:k], start=1) if relevant), None)


def first_relevant_rank(paths: Sequence[str], expect_paths: Sequence[str], k: int = CUTOFF) -> int | None:
    """The 1-based rank of the first relevant path within the top `k`, or None."""
    return _first_rank(judge(paths[:k], expect_paths), k)


def reciprocal_rank(relevance: Sequence[bool], k: int = CUTOFF) -> float:
    """1 / rank of the first relevant result within the top `k`; 0 when there is none."""
    rank = _first_rank(relevance, k)
    return 0.0 if rank is None else 1.0 / rank


def hit_at(relevance: Sequence[bool], k: int) -> float:
    """1.0 when a relevant result is in the top `k`, else 0.0."""
    return 0.0 if _first_rank(relevance, k) is None else 1.0


def _dcg(relevance: Sequence[bool]) -> float:
    return sum(1.0 / math.log2(rank + 1) for rank, relevant in enumerate(relevance, start=1) if relevant)


def ndcg_at(relevance: Sequence[bool], k: int = CUTOFF, n_relevant: int | None = None) -> float:
    """Binary nDCG@k with gain 1 and discount 1 / log2(rank + 1).

    The ideal ranking puts `n_relevant` relevant documents first, so IDCG is the DCG of
    `min(n_relevant, k)` ones. Only the retrieved list is known here, so `n_relevant` defaults
    to the number of relevant results in the whole `relevance` list, including those ranked
    below `k`. That is what trec_eval's ndcg_cut (ir-measures' nDCG@k) computes when the qrels
    hold exactly the relevant documents found among the candidates: its ideal ranking is every
    judged-relevant document, cut at k. Pass the full candidate list, not only the top k, or a
    relevant result ranked below k will not lower the score. A caller that knows the true number
    of relevant documents in the corpus passes it instead.
    """
    found = sum(map(bool, relevance))
    ideal_count = found if n_relevant is None else n_relevant
    if ideal_count < found:
        raise ValueError(f"n_relevant={n_relevant} is below the {found} relevant results in the ranking")
    if ideal_count == 0:
        return 0.0
    return _dcg(relevance[:k]) / _dcg([True] * min(ideal_count, k))


def question_metrics(relevance: Sequence[bool]) -> dict[str, float]:
    """Every METRIC_NAMES value of one question's judged ranking."""
    scores = {"mrr": reciprocal_rank(relevance, CUTOFF)}
    scores.update({f"hit_at_{k}": hit_at(relevance, k) for k in HIT_CUTOFFS})
    scores["ndcg_at_10"] = ndcg_at(relevance, CUTOFF)
    return scores


@dataclass(frozen=True)
class Evaluation:
    """Mean metrics over questions, and each question's own values, in the input order."""

    metrics: dict[str, float]  # METRIC_NAMES -> mean; EvalMetrics(**metrics) builds the schema
    per_question: list[dict[str, float]]
    first_relevant_ranks: list[int | None]  # 1-based, None when nothing relevant is in the top 10

    def scores(self, name: str) -> list[float]:
        """One metric per question, as `paired_bootstrap_ci` takes it."""
        return [values[name] for values in self.per_question]


def evaluate(questions: Sequence[tuple[Sequence[str], Sequence[str]]]) -> Evaluation:
    """Score (ranked result paths, expect_paths) pairs, one per question.

    Pass each question's full ranked list: nDCG's ideal counts relevant results below rank 10 too.
    An empty ranking scores 0 on every metric.
    """
    if not questions:
        raise ValueError("no questions to evaluate")
    judged = [judge(paths, expect_paths) for paths, expect_paths in questions]
    per_question = [question_metrics(relevance) for relevance in judged]
    metrics = {name: float(np.mean([values[name] for values in per_question])) for name in METRIC_NAMES}
    ranks = [_first_rank(relevance, CUTOFF) for relevance in judged]
    return Evaluation(metrics=metrics, per_question=per_question, first_relevant_ranks=ranks)


def paired_bootstrap_ci(
    a: Sequence[float], b: Sequence[float], n: int = 10_000, seed: int = 0, alpha: float = 0.05
) -> tuple[float, float, float]:
    """Mean of a - b over paired questions and its percentile bootstrap (1 - alpha) interval.

    Questions are resampled with replacement `n` times, keeping each question's pair together.
    """
    if len(a) != len(b):
        raise ValueError(f"a and b must be paired: {len(a)} != {len(b)} values")
    if len(a) == 0:
        raise ValueError("no paired values")
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if n < 1 or not 0.0 < alpha < 1.0:
        raise ValueError(f"need n >= 1 and 0 < alpha < 1, got n={n}, alpha={alpha}")
    rng = np.random.default_rng(seed)
    rows_per_batch = max(1, 2**22 // diff.size)  # caps the index matrix at ~32 MiB
    means = np.concatenate(
        [
            diff[rng.integers(0, diff.size, size=(min(rows_per_batch, n - start), diff.size))].mean(axis=1)
            for start in range(0, n, rows_per_batch)
        ]
    )
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(diff.mean()), float(low), float(high)
