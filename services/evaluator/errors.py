"""The evaluator's one base error."""

from __future__ import annotations


class EvaluationError(RuntimeError):
    """An evaluation cannot run; `field` names the request field to blame, when one is."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field
