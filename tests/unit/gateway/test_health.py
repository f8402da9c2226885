"""GET /api/health: replicas found by ping, the index they serve, and the bus state."""

from __future__ import annotations

import asyncio

from litestar.testing import AsyncTestClient

from services.gateway.health import BusHealth, served_index, summarise
from shared.schemas import ReplicaInfo, ServiceInfo
from tests.conftest import NatsServer
from tests.unit.gateway.conftest import StandIns


def replica(replica_id: str, version: str | None, chunks: int = 120) -> ReplicaInfo:
    repos = {"acme": chunks - 20, "tools": 20} if version else {}
    return ReplicaInfo(replica_id, version, chunks if version else 0, repos, "none (fusion order)", 1.5)


async def test_counts_every_replica_and_reports_their_index(
    client: AsyncTestClient, stand_ins: StandIns
) -> None:
    stand_ins.ping_replica(replica("r2", "idx-1"))
    stand_ins.ping_replica(replica("r1", "idx-1"))

    answer = await client.get("/api/health")

    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok"
    assert body["bus"]["connected"] is True
    assert [r["replica_id"] for r in body["replicas"]] == ["r1", "r2"]
    assert body["index"] == {"version": "idx-1", "chunks": 120, "repos": {"acme": 100, "tools": 20}}


async def test_degraded_without_replicas(client: AsyncTestClient, nats_server: NatsServer) -> None:
    answer = await client.get("/api/health")

    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "degraded"
    assert body["bus"] == {"connected": True, "url": nats_server.url}
    assert body["replicas"] == []
    assert body["index"] == {"version": None, "chunks": 0, "repos": {}}


async def test_degraded_when_no_replica_has_an_index(client: AsyncTestClient, stand_ins: StandIns) -> None:
    stand_ins.ping_replica(replica("r1", None))

    body = (await client.get("/api/health")).json()

    assert body["status"] == "degraded"
    assert len(body["replicas"]) == 1


async def test_ignores_unreadable_ping_answers(client: AsyncTestClient, stand_ins: StandIns) -> None:
    stand_ins.ping_replica(replica("r1", "idx-1"))
    stand_ins.ping_replica(b"not json")

    body = (await client.get("/api/health")).json()

    assert [r["replica_id"] for r in body["replicas"]] == ["r1"]


async def test_503_down_when_the_bus_is_unreachable(client: AsyncTestClient, nats_server: NatsServer) -> None:
    nats_server.stop()
    for _ in range(100):
        if not client.app.state.search_client.connected:
            break
        await asyncio.sleep(0.02)

    answer = await client.get("/api/health")

    assert answer.status_code == 503
    assert answer.json()["status"] == "down"
    assert answer.json()["bus"]["connected"] is False


def test_the_index_most_replicas_serve_wins() -> None:
    replicas = [
        replica("r1", "old", 90),
        replica("r2", "new", 120),
        replica("r3", "new", 120),
        replica("r4", None),
    ]

    assert served_index(replicas).version == "new"
    assert served_index(replicas).chunks == 120


def test_status_is_down_whenever_the_bus_is() -> None:
    health = summarise(BusHealth(connected=False, url="nats://x"), [replica("r1", "idx-1")])

    assert health.status == "down"


async def test_a_service_problem_degrades_health_and_is_named(
    client: AsyncTestClient, stand_ins: StandIns
) -> None:
    stand_ins.ping_replica(replica("r1", "idx-1"))
    stand_ins.ping_service(ServiceInfo("trainer", 11, 1.0))
    problem = "log not writable: [Errno 28] No space left on device"
    stand_ins.ping_service(ServiceInfo("telemetry", 12, 1.0, problems=[problem]))

    body = (await client.get("/api/health")).json()

    assert body["status"] == "degraded"
    assert body["problems"] == [f"telemetry: {problem}"]
    assert [(s["service"], s["pid"]) for s in body["services"]] == [("telemetry", 12), ("trainer", 11)]


async def test_services_without_problems_keep_health_ok(client: AsyncTestClient, stand_ins: StandIns) -> None:
    stand_ins.ping_replica(replica("r1", "idx-1"))
    stand_ins.ping_service(ServiceInfo("telemetry", 12, 1.0))

    body = (await client.get("/api/health")).json()

    assert body["status"] == "ok" and body["problems"] == []
    assert [s["service"] for s in body["services"]] == ["telemetry"]
