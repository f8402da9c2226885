"""Every service but the replicas answers SERVICE_PING: its name, pid, and what keeps it from working.

The gateway's /api/health gathers the answers (a service that does not answer is down or still
starting); `bench/chaos.py` times how long a killed service takes to answer again. A subscription
made with nats-py is made again by the client after nats-server restarts.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from shared.schemas import ServiceInfo, encoder
from shared.subjects import SERVICE_PING


def no_problems() -> list[str]:
    return []


async def answer_pings(
    nc: Client, service: str, problems: Callable[[], list[str]] = no_problems
) -> Subscription:
    """Answer SERVICE_PING on `nc` until it closes; `problems()` is asked at every ping."""
    started_at = time.time()

    async def answer(msg: Msg) -> None:
        if msg.reply:
            info = ServiceInfo(service=service, pid=os.getpid(), started_at=started_at, problems=problems())
            await msg.respond(encoder.encode(info))

    return await nc.subscribe(SERVICE_PING, cb=answer)
