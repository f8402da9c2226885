"""In a NATS cluster the gateway offers a command again while the COMMANDS stream has no leader
(its node just died), as it does feedback; a single server answers 503 at once. Real nats-server:
a stream that does not exist yet is what a stream without a leader looks like to a publisher."""

from __future__ import annotations

import asyncio
import time

import nats
import pytest

from services.gateway.errors import Unavailable
from services.gateway.jobs_client import JobsClient
from shared.schemas import EvaluateCommand, command_decoder
from shared.streams import KV_BUCKETS, STREAMS, Buckets
from tests.conftest import NatsServer

COMMANDS = next(s for s in STREAMS if s.name == "COMMANDS")
JOBS = next(b for b in KV_BUCKETS if b.bucket == Buckets.JOBS)


async def test_a_clustered_gateway_stores_the_command_once_a_leader_answers(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        await js.create_key_value(JOBS)
        client = JobsClient(nc, timeout=6.0, clustered=True)

        async def leader_elected() -> None:
            await asyncio.sleep(1.0)
            await js.add_stream(COMMANDS)

        elected = asyncio.create_task(leader_elected())
        began = time.monotonic()
        queued = await client.submit(EvaluateCommand(job_id="eval-1"))
        await elected

        assert queued.state == "queued" and queued.job_id == "eval-1"
        assert 1.0 <= time.monotonic() - began < 3.0
        assert (await js.stream_info("COMMANDS")).state.messages == 1  # offered again, stored once
        stored = await js.get_msg("COMMANDS", seq=1)
        assert command_decoder.decode(stored.data) == EvaluateCommand(job_id="eval-1")
        assert (await client.job("eval-1")).state == "queued"
    finally:
        await nc.close()


async def test_a_single_server_gateway_says_503_at_once(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    try:
        client = JobsClient(nc, timeout=6.0)
        began = time.monotonic()
        with pytest.raises(Unavailable, match="the command was not stored"):
            await client.submit(EvaluateCommand(job_id="eval-2"))
        assert time.monotonic() - began < 1.0
    finally:
        await nc.close()
