"""What /api/health reports: the bus, the replicas and services that answered a ping, the index served,
and the problems services report (e.g. `telemetry: log not writable: [Errno 28] No space left on device`)."""

from __future__ import annotations

from collections import Counter
from typing import Literal

import msgspec

from shared.schemas import ReplicaInfo, ServiceInfo

Status = Literal["ok", "degraded", "down"]


class BusHealth(msgspec.Struct):
    connected: bool
    url: str


class IndexHealth(msgspec.Struct):
    version: str | None
    chunks: int
    repos: dict[str, int]  # repo name -> chunk count


class Health(msgspec.Struct):
    status: Status
    bus: BusHealth
    replicas: list[ReplicaInfo]
    index: IndexHealth
    services: list[ServiceInfo] = msgspec.field(default_factory=list)  # every other service that answered
    problems: list[str] = msgspec.field(default_factory=list)  # "<service>: <problem>"


NO_INDEX = IndexHealth(version=None, chunks=0, repos={})


def served_index(replicas: list[ReplicaInfo]) -> IndexHealth:
    """The index most replicas serve (replicas differ for a moment while a new snapshot loads)."""
    versions = Counter(r.index_version for r in replicas if r.index_version is not None)
    if not versions:
        return NO_INDEX
    version = versions.most_common(1)[0][0]
    replica = next(r for r in replicas if r.index_version == version)
    return IndexHealth(version=version, chunks=replica.chunks, repos=replica.repos)


def summarise(
    bus: BusHealth, replicas: list[ReplicaInfo], services: list[ServiceInfo] | None = None
) -> Health:
    """ok: bus up, at least one replica, an index, no service reports a problem; down: bus
    unreachable; degraded otherwise."""
    index = served_index(replicas)
    services = services or []
    problems = [f"{s.service}: {problem}" for s in services for problem in s.problems]
    status: Status
    if not bus.connected:
        status = "down"
    elif replicas and index.version is not None and not problems:
        status = "ok"
    else:
        status = "degraded"
    return Health(
        status=status, bus=bus, replicas=replicas, index=index, services=services, problems=problems
    )
