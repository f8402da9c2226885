"""Mining golden questions: retrieval candidates whose path matches an expected path are positives.

Candidates come from retrieval without the reranker (`codesift.search.candidates`), so the model
never learns from its own ranking. A chunk is correct when its path contains any `expect_paths`
entry (the evaluation's rule), so every chunk of an expected file is correct, most of them only
because of where they live. One triplet per expected path that the candidates reach, whose
positive is the best-ranked chunk matching it: a question expecting two files gives two
triplets, a file with ten chunks does not give ten. Its negatives are the best-ranked
candidates matching no expected path; other chunks of an expected file are never negatives.

Skip reasons in the stats: no_positive (questions whose candidates match no expected path).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from services.trainer.mining.stats import MiningStats
from shared.schemas import Candidate, GoldenQuestion, Triplet

CandidateSearch = Callable[[str, str | None, int], list[Candidate]]  # (query, repo, k) -> candidates

DEFAULT_K = 30
DEFAULT_NEGATIVES = 7


def mine_golden(
    questions: Iterable[GoldenQuestion],
    candidates: CandidateSearch,
    *,
    k: int = DEFAULT_K,
    negatives: int = DEFAULT_NEGATIVES,
) -> tuple[list[Triplet], MiningStats]:
    """Triplets for the questions (give only the train side of the split) from their top-k candidates."""
    stats = MiningStats("golden")
    triplets: list[Triplet] = []
    for question in questions:
        stats.read += 1
        ranked = sorted(candidates(question.q, question.repo, k), key=lambda c: c.fusion_rank)
        positives: list[Candidate] = []
        for expected in question.expect_paths:
            best = next((c for c in ranked if expected in c.path), None)
            if best is not None and all(best.doc_id != p.doc_id for p in positives):
                positives.append(best)
        if not positives:
            stats.skipped["no_positive"] += 1
            continue
        stats.queries += 1
        wrong = [c for c in ranked if not any(e in c.path for e in question.expect_paths)][:negatives]
        triplets.extend(
            Triplet(
                query=question.q,
                positive_text=positive.text,
                positive_doc_id=positive.doc_id,
                negative_texts=[c.text for c in wrong],
                negative_doc_ids=[c.doc_id for c in wrong],
                source="golden",
                repo=question.repo,
                positive_symbol=positive.symbol,
                negative_symbols=[c.symbol for c in wrong] if any(c.symbol for c in wrong) else [],
            )
            for positive in positives
        )
    stats.triplets = len(triplets)
    stats.without_negatives = sum(1 for t in triplets if not t.negative_doc_ids)
    return triplets, stats
