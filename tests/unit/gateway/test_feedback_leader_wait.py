"""In a NATS cluster the gateway offers an event again while the FEEDBACK stream has no leader
(its node just died); a single server answers 503 at once. Real nats-server: a stream that does not
exist yet is what a stream without a leader looks like to a publisher (nobody answers)."""

from __future__ import annotations

import asyncio
import time

import nats
import pytest

from services.gateway.errors import Unavailable
from services.gateway.feedback_client import FeedbackClient
from shared.subjects import TELEMETRY_FEEDBACK
from tests.conftest import NatsServer
from tests.unit.gateway.test_telemetry import decoded, event


async def test_a_clustered_gateway_stores_the_event_once_a_leader_answers(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        client = FeedbackClient(nc, nats_server.url, timeout=6.0, clustered=True)

        async def leader_elected() -> None:
            await asyncio.sleep(1.0)
            await js.add_stream(name="FEEDBACK", subjects=[TELEMETRY_FEEDBACK], duplicate_window=60)

        elected = asyncio.create_task(leader_elected())
        began = time.monotonic()
        ack = await client.publish(decoded(event()))
        await elected

        assert ack.stream == "FEEDBACK" and not ack.duplicate
        assert 1.0 <= time.monotonic() - began < 3.0
        assert (await js.stream_info("FEEDBACK")).state.messages == 1
    finally:
        await nc.close()


async def test_a_single_server_gateway_says_503_at_once(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        client = FeedbackClient(nc, nats_server.url, timeout=6.0)
        began = time.monotonic()
        with pytest.raises(Unavailable, match="send the same event again"):
            await client.publish(decoded(event()))
        assert time.monotonic() - began < 1.0
    finally:
        await nc.close()


async def test_a_clustered_gateway_gives_up_after_half_its_timeout(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        client = FeedbackClient(nc, nats_server.url, timeout=2.0, clustered=True)
        began = time.monotonic()
        with pytest.raises(Unavailable, match="not stored"):
            await client.publish(decoded(event()))
        assert 0.7 <= time.monotonic() - began < 1.5
    finally:
        await nc.close()
