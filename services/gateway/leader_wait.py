"""Writes to JetStream that wait out a leader election in a NATS cluster.

In a cluster a stream (or a KV bucket: a stream too) whose leader's node has just died answers
nobody until the others elect a new one (~5 s, nats-server's Raft timeout). A write that meets
that is offered again until `leader_wait` has passed; on a single server (`leader_wait` 0) it
fails at once, as there nothing is being elected. Every write here carries its own id (a message
id, or a KV create), so offering it again stores it once whatever happened to the first try.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from nats.js.errors import NoStreamResponseError, ServiceUnavailableError

T = TypeVar("T")
LEADER_POLL_S = 0.25
NO_LEADER = (NoStreamResponseError, ServiceUnavailableError)


async def through_election(write: Callable[[float], Awaitable[T]], timeout: float, leader_wait: float) -> T:
    """`write(seconds_left)` until it does not meet a stream without a leader, for up to
    `leader_wait` seconds; any other error, or the last no-leader one, is raised."""
    began = time.monotonic()
    while True:
        try:
            return await write(max(0.5, timeout - (time.monotonic() - began)))
        except NO_LEADER:
            if time.monotonic() - began + LEADER_POLL_S >= leader_wait:
                raise
            await asyncio.sleep(LEADER_POLL_S)
