"""How many clicks team-draft interleaving needs to pick the better of two real rankers.

    python -m bench.interleaving [--repo PATH] [--golden golden.json] [--seeds 50] [--max-searches 5000]

1. Indexes the repository (this one by default, int8 embedder, as replicas serve it) and takes, for
   each golden question, the top 50 of three real rankers over the same candidates: fusion (BM25 +
   vectors, RRF: what is served without a model), BM25 alone and vectors alone. A result is
   relevant when its path contains one of the question's `expect_paths`. Offline MRR@10 says which
   ranker of each pair is better.
2. Simulated users search a random golden question; the replica shows the team draft
   (`shared.interleaving.team_draft`, k = 10) of the worse ranker (production) and the better
   (candidate). A position-based click model: a user looks at result i with probability 1/i and
   clicks it with probability `p_relevant` when it is relevant, `p_other` when not. Clicks credit
   teams, each search is a win, loss or tie (`shared.interleaving.outcome`), and after each
   search the sign test (`shared.interleaving.sign_test`) is checked.
3. Per seed: the clicks (and searches) until the candidate is ahead with p < 0.05 for the first
   time; the median over seeds is the figure, with the seeds where production was picked instead
   (a wrong decision) and those that never decided. Users who click at random (same click rates,
   relevance ignored) show how often a decision is made with no real difference: judged once after
   a fixed number of searches about 5% of seeds, as a test at 0.05 should; stopping at the first
   p < 0.05 (peeking after every search) far more often.

Prints markdown tables.
"""

from __future__ import annotations

import argparse
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from services.search.embedding import Embedder
from services.search.export_embedder import ensure_embedder
from services.search.index import SearchIndex
from services.search.indexer import index_repository
from shared.golden import read_golden
from shared.interleaving import CANDIDATE, outcome, sign_test, team_draft
from shared.settings import settings

ROOT = Path(__file__).resolve().parent.parent
DEPTH = 50
K = 10
ALPHA = 0.05
FIXED_HORIZON = 1000  # searches of the random-click run judged once at the end


@dataclass(frozen=True)
class Question:
    rankings: dict[str, list[int]]  # ranker -> chunk indexes, best first
    relevant: frozenset[int]


@dataclass(frozen=True)
class ClickModel:
    name: str
    p_relevant: float
    p_other: float


CLICK_MODELS = (
    ClickModel("careful (0.9 / 0.05)", 0.9, 0.05),
    ClickModel("noisy (0.6 / 0.2)", 0.6, 0.2),
)


def questions(index: SearchIndex, embedder: Embedder, golden: Path, repo: str) -> list[Question]:
    found = []
    for q in read_golden(golden):
        hits = index.retrieve(q.q, embedder.embed_query(q.q), DEPTH, repo=repo, depth=DEPTH)
        chunks = index.chunks
        relevant = frozenset(h.index for h in hits if any(p in chunks[h.index].path for p in q.expect_paths))
        if not relevant:
            continue  # no ranker can be told apart on a question none of them answers
        rankings = {
            "fusion": [h.index for h in hits],
            "bm25": [h.index for h in sorted(hits, key=lambda h: (h.bm25_rank or 10**6, h.fusion_rank))],
            "vectors": [h.index for h in sorted(hits, key=lambda h: (h.vector_rank or 10**6, h.fusion_rank))],
        }
        found.append(Question(rankings, relevant))
    return found


def mrr(qs: Sequence[Question], ranker: str) -> float:
    total = 0.0
    for q in qs:
        for rank, doc in enumerate(q.rankings[ranker][:K], 1):
            if doc in q.relevant:
                total += 1 / rank
                break
    return total / len(qs)


@dataclass(frozen=True)
class Run:
    decided: str | None  # "candidate" | "production" | None (no decision within the budget)
    clicks: int  # clicks credited until the decision (or the budget)
    searches: int


def simulate(
    qs: Sequence[Question],
    production: str,
    candidate: str,
    model: ClickModel,
    seed: int,
    max_searches: int,
    random_clicks: bool = False,
    peek: bool = True,
) -> Run:
    """peek: stop at the first search after which p < ALPHA; else judge once, after max_searches."""
    rng = random.Random(seed)
    wins = losses = clicks = 0
    for search in range(1, max_searches + 1):
        q = rng.choice(qs)
        shown = team_draft(q.rankings[production], q.rankings[candidate], K, rng)
        clicked = []
        for position, (doc, side) in enumerate(shown, 1):
            if rng.random() >= 1 / position:
                continue  # not looked at
            relevant = rng.random() < len(q.relevant) / K if random_clicks else doc in q.relevant
            if rng.random() < (model.p_relevant if relevant else model.p_other):
                clicked.append(side)
        clicks += len(clicked)
        result = outcome(clicked)
        if result == "win":
            wins += 1
        elif result == "loss":
            losses += 1
        if peek and result in ("win", "loss") and sign_test(wins, losses) < ALPHA:
            return Run(CANDIDATE if wins > losses else "production", clicks, search)
    if not peek and sign_test(wins, losses) < ALPHA:
        return Run(CANDIDATE if wins > losses else "production", clicks, max_searches)
    return Run(None, clicks, max_searches)


def median_or_dash(values: list[int]) -> str:
    return f"{statistics.median(values):.0f}" if values else "–"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=ROOT)
    parser.add_argument("--name", default="codesift", help="the repository's name in the golden file")
    parser.add_argument("--golden", type=Path, default=ROOT / "golden.json")
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--max-searches", type=int, default=5000)
    args = parser.parse_args()

    embedder = Embedder(ensure_embedder(settings().cache_dir), quantized=True)
    index, _ = index_repository(args.repo, args.name, None, embedder)
    qs = questions(index, embedder, args.golden, args.name)
    scores = {r: mrr(qs, r) for r in ("fusion", "bm25", "vectors")}
    print(f"{len(index.chunks)} chunks, {len(qs)} golden questions with a relevant result in the top {DEPTH}")
    print()
    print("| ranker | MRR@10 |\n| --- | ---: |")
    for ranker, score in scores.items():
        print(f"| {ranker} | {score:.3f} |")

    pairs = [(a, b) for a, b in (("bm25", "fusion"), ("vectors", "fusion"), ("vectors", "bm25"))]
    pairs = [(lo, hi) if scores[lo] <= scores[hi] else (hi, lo) for lo, hi in pairs]
    print(
        f"\n{args.seeds} seeds, at most {args.max_searches} searches each; decision: the first p < {ALPHA}\n"
    )
    print(
        "| production → candidate (MRR@10) | users | median clicks | median searches "
        "| picked the candidate | picked production | undecided |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for production, candidate in pairs:
        label = f"{production} → {candidate} ({scores[production]:.3f} → {scores[candidate]:.3f})"
        for model in CLICK_MODELS:
            runs = [
                simulate(qs, production, candidate, model, s, args.max_searches) for s in range(args.seeds)
            ]
            right = [r for r in runs if r.decided == CANDIDATE]
            wrong = sum(r.decided == "production" for r in runs)
            print(
                f"| {label} | {model.name} | {median_or_dash([r.clicks for r in right])} "
                f"| {median_or_dash([r.searches for r in right])} | {len(right)}/{len(runs)} "
                f"| {wrong} | {sum(r.decided is None for r in runs)} |"
            )
    production, candidate = pairs[0]
    model = CLICK_MODELS[0]
    for peek, horizon in ((True, args.max_searches), (False, FIXED_HORIZON)):
        null = [
            simulate(qs, production, candidate, model, s, horizon, random_clicks=True, peek=peek)
            for s in range(args.seeds)
        ]
        how = "checked after every search" if peek else "checked once"
        decided = sum(r.decided is not None for r in null)
        print(
            f"\nRandom clicks ({production} vs {candidate}, same click rates, relevance ignored), "
            f"{horizon} searches, {how}: a winner declared in {decided}/{len(null)} seeds."
        )


if __name__ == "__main__":
    main()
