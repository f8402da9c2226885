"""Retrying the bus calls that fail for a moment: a JetStream API answer lost or empty while the
server is busy (nats-py then raises a timeout, or a JSONDecodeError on the empty answer).

A PromotionError is a decision, never retried. Only steps that are safe to repeat are passed here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from services.promoter.errors import PromotionError

T = TypeVar("T")
ATTEMPTS = 3
log = logging.getLogger("codesift.promoter")


async def retry_transient(what: str, step: Callable[[], Awaitable[T]], attempts: int = ATTEMPTS) -> T:
    """`await step()`, again after 0.5 s, 1 s, ... when it raises anything but a PromotionError."""
    for attempt in range(1, attempts + 1):
        try:
            return await step()
        except PromotionError:
            raise
        except Exception as exc:
            if attempt == attempts:
                raise
            log.warning("%s: attempt %d failed (%r); retrying", what, attempt, exc)
            await asyncio.sleep(0.5 * attempt)
    raise AssertionError("unreachable")
