"""Synthetic click groups with a planted preference: users always pick the test file's chunk.

Each query has 20 fusion candidates (scores falling with rank): one chunk of a test module at a
random fusion rank, the others source functions. The simulated user clicks the test chunk
wherever fusion put it and skips what was shown above it, as the feedback-log miner records
(source "logs", skipped results as negatives). A learned ranker has to discover that the file's
kind decides; fusion puts the test chunk first only when it happens to rank it first.
"""

from __future__ import annotations

import random

from shared.schemas import Candidate, Triplet

WORDS = ("token", "parse", "cache", "index", "score", "session", "request", "reply", "user", "config")
CANDIDATES = 20


def candidate(query_no: int, rank: int, is_test: bool, world: int) -> Candidate:
    if is_test:
        path = f"tests/test_feature{query_no}.py"
        text = f"def test_case_{rank}(client):\n    assert client.run({rank}) == {rank}\n"
    else:
        path = f"pkg/feature{query_no}_{rank}.py"
        text = f"def compute_{rank}(value):\n    return value * {rank} + {query_no}\n"
    return Candidate(
        doc_id=f"{path}:1-2",
        repo="demo",
        path=path,
        start_line=1,
        end_line=2,
        language="python",
        chunk_kind="function",
        content_hash=f"w{world}-q{query_no}-r{rank}",
        text=text,
        fusion_rank=rank + 1,
        fusion_score=1.0 / (61 + rank),
        bm25_rank=rank + 1,
        bm25_score=12.0 - 0.4 * rank,
        vector_rank=rank + 1,
        vector_score=0.8 - 0.01 * rank,
        symbol=text.split("(")[0].removeprefix("def "),
    )


def click_world(
    queries: int, seed: int, planted: bool = True
) -> tuple[list[Triplet], dict[str, list[Candidate]]]:
    """(triplets mined from the clicks, fusion candidates by query).

    planted False: the clicked chunk is a source function like the others (nothing to learn).
    """
    rng = random.Random(seed)
    lists: dict[str, list[Candidate]] = {}
    triplets: list[Triplet] = []
    for q in range(queries):
        query = f"how does the {rng.choice(WORDS)} {rng.choice(WORDS)} step {seed}-{q} work"
        test_at = rng.randrange(CANDIDATES)
        found = [candidate(q, r, planted and r == test_at, seed) for r in range(CANDIDATES)]
        lists[query] = found
        clicked, skipped = found[test_at], found[:test_at]
        triplets.append(
            Triplet(
                query=query,
                positive_text=clicked.text,
                positive_doc_id=clicked.doc_id,
                negative_texts=[c.text for c in skipped],
                negative_doc_ids=[c.doc_id for c in skipped],
                source="logs",
                repo="demo",
            )
        )
    return triplets, lists


def search_in(lists: dict[str, list[Candidate]]):
    """A CandidateSearch over the world's lists (what `codesift.search.candidates` would answer)."""

    def search(query: str, repo: str | None, k: int) -> list[Candidate]:
        return lists.get(query, [])[:k]

    return search
