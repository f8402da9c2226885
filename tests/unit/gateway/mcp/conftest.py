"""The MCP server's tools over a real nats-server (JetStream streams bootstrapped), with a stand-in
search replica in the replicas' queue group answering from the fixture repository's real lines."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import nats
import pytest
from nats.aio.client import Client as Nats
from nats.aio.msg import Msg

from services.gateway.feedback_client import FeedbackClient
from services.gateway.mcp.tools import Backend
from services.gateway.models_client import ModelsClient
from services.gateway.search_client import SearchClient
from shared.schemas import (
    Problem,
    ReplicaInfo,
    SearchHit,
    SearchReply,
    SearchRequest,
    SearchResponse,
    encoder,
)
from shared.streams import bootstrap
from shared.subjects import SEARCH_PING, SEARCH_QUERY, SEARCH_QUEUE
from tests.conftest import NatsServer
from tests.unit.gateway.mcp.hits import CLAIMS, PASSWORDS, TOKENS

HITS = [SearchHit(**h) for h in (TOKENS, PASSWORDS, CLAIMS)]
REPOS = {"sample": 72}


@dataclass
class StandInReplica:
    """Answers searches as a replica does: the hits in order (k of them), or a Problem naming the field."""

    requests: list[SearchRequest] = field(default_factory=list)
    responses: list[SearchResponse] = field(default_factory=list)

    async def handle(self, msg: Msg) -> None:
        request = msgspec.json.decode(msg.data, type=SearchRequest)
        self.requests.append(request)
        if request.repo is not None and request.repo not in REPOS:
            reply = SearchReply(
                error=Problem("repo", f"unknown repository {request.repo!r} (indexed: sample)")
            )
        else:
            response = SearchResponse(
                uuid.uuid4().hex, request.query, "none (fusion order)", HITS[: request.k]
            )
            self.responses.append(response)
            reply = SearchReply(response=response)
        await msg.respond(encoder.encode(reply))


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[Nats]:
    nc = await nats.connect(nats_server.url)
    await bootstrap(nc)
    yield nc
    await nc.close()


@pytest.fixture
async def replica(nc: Nats) -> StandInReplica:
    replica = StandInReplica()
    await nc.subscribe(SEARCH_QUERY, queue=SEARCH_QUEUE, cb=replica.handle)
    info = ReplicaInfo("search-1", "index-1", sum(REPOS.values()), REPOS, "none (fusion order)", 0.0)

    async def ping(msg: Msg) -> None:
        await msg.respond(encoder.encode(info))

    await nc.subscribe(SEARCH_PING, cb=ping)
    await nc.flush()
    return replica


def make_backend(nc: Nats, url: str, data_dir: Path, writer=None) -> Backend:
    return Backend(
        search=SearchClient(nc, url, timeout=2.0, ping_wait=0.1),
        feedback=FeedbackClient(nc, url, timeout=2.0),
        models=ModelsClient(nc, data_dir),
        js=nc.jetstream(),
        writer=writer,
    )


@pytest.fixture
def backend(nc: Nats, nats_server: NatsServer, tmp_path: Path) -> Backend:
    return make_backend(nc, nats_server.url, tmp_path)
