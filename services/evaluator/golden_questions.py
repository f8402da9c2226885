"""Which golden questions an evaluation scores: the eval side of the shared split, or all of them."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from services.evaluator.errors import EvaluationError
from shared.golden import GoldenError, read_golden, split_golden
from shared.schemas import GoldenQuestion


def select_questions(path: Path, split: Literal["eval", "all"]) -> tuple[list[GoldenQuestion], str, str]:
    """(questions, split scored, note). The eval side is the one the trainer never mines.

    When that side is empty (a tiny golden file), every question is scored and the note says so.
    """
    try:
        questions = read_golden(path)
    except GoldenError as exc:
        raise EvaluationError(str(exc), field="golden") from None
    if not questions:
        raise EvaluationError(f"golden: {path} holds no questions", field="golden")
    if split == "all":
        return questions, "all", ""
    _, held_out = split_golden(questions)
    if not held_out:
        note = f"the eval split of the {len(questions)} golden questions is empty: scored all of them"
        return questions, "all", note
    return held_out, "eval", ""
