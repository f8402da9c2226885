"""The promoter's errors: each says, in words, why production was left as it was."""

from __future__ import annotations


class PromotionError(RuntimeError):
    """A promotion or rollback that was not carried out; the message says why."""


class PointerChanged(PromotionError):
    def __init__(self) -> None:
        super().__init__(
            "the production pointer changed meanwhile (another promotion or rollback); try again"
        )
