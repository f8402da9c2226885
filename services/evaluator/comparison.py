"""Scoring several rankers on the same questions and candidates, and comparing them pairwise.

Pure: the candidates come in as lists (from the search service, or a bench's own index), the
rankers as functions, and nothing here talks to NATS. Metrics are `shared.metrics`' (equal to
ir-measures'); each ranking is judged in full, so nDCG@10's ideal sees relevant candidates
below rank 10 too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from services.evaluator.rankers import Ranker
from shared.metrics import Evaluation, evaluate, paired_bootstrap_ci
from shared.schemas import Candidate, GoldenQuestion, Interval

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class Comparison:
    questions: list[GoldenQuestion]
    evaluations: dict[str, Evaluation]  # ranker name -> its metrics, per question and mean

    def interval(self, a: str, b: str, resamples: int = 10_000, seed: int = 0) -> Interval:
        """MRR@10 of ranker `a` minus ranker `b`, paired by question, with its bootstrap 95% interval."""
        mean, low, high = paired_bootstrap_ci(
            self.evaluations[a].scores("mrr"), self.evaluations[b].scores("mrr"), n=resamples, seed=seed
        )
        return Interval(mean=mean, low=low, high=high)

    def per_question(self, primary: str) -> list[dict[str, object]]:
        """Each question with the rank of its first correct result (None: not in the top 10) per ranker.

        `first_correct_rank` is ranker `primary`'s, as in the eval-result schema's QuestionResult.
        """
        ranks = {name: e.first_relevant_ranks for name, e in self.evaluations.items()}
        return [
            {
                "q": question.q,
                "repo": question.repo,
                "first_correct_rank": ranks[primary][i],
                "ranks": {name: values[i] for name, values in ranks.items()},
            }
            for i, question in enumerate(self.questions)
        ]


def compare(
    questions: Sequence[GoldenQuestion],
    candidates: Sequence[Sequence[Candidate]],
    rankers: Mapping[str, Ranker],
    progress: Progress | None = None,
) -> Comparison:
    """Rank each question's candidates with every ranker and score the rankings.

    candidates[i] are question i's retrieval candidates (any order: they are put in fusion order
    first). A ranker given twice under two names runs once.
    """
    if len(questions) != len(candidates):
        raise ValueError(f"{len(questions)} questions but {len(candidates)} candidate lists")
    if not questions:
        raise ValueError("no questions to evaluate")
    distinct = {id(ranker): ranker for ranker in rankers.values()}
    rankings: dict[int, list[list[str]]] = {key: [] for key in distinct}
    for i, (question, found) in enumerate(zip(questions, candidates, strict=True)):
        ordered = sorted(found, key=lambda c: c.fusion_rank)
        for key, ranker in distinct.items():
            order = ranker(question.q, ordered)
            if sorted(order) != list(range(len(ordered))):
                raise ValueError(f"a ranker did not return a permutation of the {len(ordered)} candidates")
            rankings[key].append([ordered[position].path for position in order])
        if progress is not None:
            progress((i + 1) / len(questions), f"ranked {i + 1}/{len(questions)} questions")
    evaluations = {
        name: evaluate(
            [(paths, q.expect_paths) for paths, q in zip(rankings[id(ranker)], questions, strict=True)]
        )
        for name, ranker in rankers.items()
    }
    return Comparison(questions=list(questions), evaluations=evaluations)
