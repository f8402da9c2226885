"""Gateway tests: the app against a real nats-server, with search replicas stood in by the test.

Litestar's AsyncTestClient runs the app in a thread of its own and blocks the test's event loop
while a request is served, so the stand-in replicas run on a third event loop (their own thread),
as a real replica runs in its own process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import msgspec
import nats
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from litestar.testing import AsyncTestClient
from nats.aio.msg import Msg

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from shared.schemas import ReplicaInfo, SearchRequest, ServiceInfo, encoder
from shared.subjects import SEARCH_PING, SEARCH_QUERY, SEARCH_QUEUE, SERVICE_PING
from tests.conftest import NatsServer

TIMEOUT = 0.5  # the gateway's request timeout in these tests, seconds


@dataclass
class StandInReplica:
    """Answers SEARCH_QUERY (in the replicas' queue group) with canned bytes; records the requests."""

    answer: bytes | None  # None: receive but never answer
    requests: list[SearchRequest] = field(default_factory=list)

    async def handle(self, msg: Msg) -> None:
        self.requests.append(msgspec.json.decode(msg.data, type=SearchRequest))
        if self.answer is not None:
            await msg.respond(self.answer)


class StandIns:
    """Stand-in replicas on their own NATS connection and event loop."""

    def __init__(self, portal: BlockingPortal, url: str) -> None:
        self._portal = portal
        self._nc = portal.call(nats.connect, url)

    def search_replica(self, answer: bytes | None) -> StandInReplica:
        replica = StandInReplica(answer)
        self._portal.call(self._subscribe, SEARCH_QUERY, SEARCH_QUEUE, replica.handle)
        return replica

    def ping_replica(self, answer: ReplicaInfo | bytes) -> None:
        data = answer if isinstance(answer, bytes) else encoder.encode(answer)

        async def handle(msg: Msg) -> None:
            await msg.respond(data)

        self._portal.call(self._subscribe, SEARCH_PING, "", handle)

    def ping_service(self, answer: ServiceInfo) -> None:
        data = encoder.encode(answer)

        async def handle(msg: Msg) -> None:
            await msg.respond(data)

        self._portal.call(self._subscribe, SERVICE_PING, "", handle)

    async def _subscribe(self, subject: str, queue: str, cb: Callable[[Msg], Awaitable[None]]) -> None:
        await self._nc.subscribe(subject, queue=queue, cb=cb)
        await self._nc.flush()

    def close(self) -> None:
        self._portal.call(self._nc.close)


@pytest.fixture
def settings(nats_server: NatsServer) -> GatewaySettings:
    return GatewaySettings(nats_url=nats_server.url, request_timeout=TIMEOUT)


@pytest.fixture
async def client(settings: GatewaySettings) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield client


@pytest.fixture
def stand_ins(nats_server: NatsServer) -> Iterator[StandIns]:
    with start_blocking_portal() as portal:
        stand_ins = StandIns(portal, nats_server.url)
        yield stand_ins
        stand_ins.close()
