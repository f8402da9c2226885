"""Canned retrieval candidates and cross-encoders that know (or invert) the right answer."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np

from shared.schemas import Candidate, GoldenQuestion

TARGET = "src/target.py"


def candidate(path: str, fusion_rank: int) -> Candidate:
    return Candidate(
        doc_id=f"{path}:{fusion_rank}-{fusion_rank + 9}",
        repo="demo",
        path=path,
        start_line=fusion_rank,
        end_line=fusion_rank + 9,
        language="python",
        chunk_kind="function",
        content_hash=f"h{fusion_rank}",
        text=f"# {path}\ndef f{fusion_rank}(): ...",
        fusion_rank=fusion_rank,
        fusion_score=1.0 / (60 + fusion_rank),
        bm25_rank=fusion_rank,
        bm25_score=1.0,
        vector_rank=None,
        vector_score=0.0,
    )


def question_set(
    ranks: Sequence[int | None], size: int = 30
) -> tuple[list[GoldenQuestion], list[list[Candidate]]]:
    """One question per entry: TARGET at that fusion rank among `size` candidates (None: absent)."""
    questions, candidates = [], []
    for i, rank in enumerate(ranks):
        paths = [f"src/other{j}.py" for j in range(1, size + 1)]
        if rank is not None:
            paths[rank - 1] = TARGET
        questions.append(GoldenQuestion(q=f"question {i}", repo="demo", expect_paths=["target.py"]))
        candidates.append([candidate(path, n) for n, path in enumerate(paths, start=1)])
    return questions, candidates


def random_ranks(count: int, low: int, high: int, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(low, high) for _ in range(count)]


class KeywordScorer:
    """Scores `weight` for texts mentioning the target file, 0 otherwise; records what it was asked."""

    def __init__(self, weight: float):
        self.weight = weight
        self.calls: list[tuple[str, list[str]]] = []

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        self.calls.append((query, list(texts)))
        return np.array([self.weight if TARGET in text else 0.0 for text in texts], dtype=np.float32)
