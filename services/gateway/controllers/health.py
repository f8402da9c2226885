"""GET /api/health: is the bus up, which replicas and services answer, which index they serve."""

from __future__ import annotations

import asyncio

from litestar import Controller, Response, get
from litestar.openapi.datastructures import ResponseSpec

from services.gateway.health import BusHealth, Health, summarise
from services.gateway.search_client import SearchClient


class HealthController(Controller):
    """Health of the stack as the gateway sees it."""

    path = "/api/health"
    tags = ["health"]

    @get(
        operation_id="health",
        summary="Stack health",
        responses={503: ResponseSpec(Health, description="The message bus is unreachable (status `down`).")},
    )
    async def health(self, search_client: SearchClient) -> Response[Health]:
        """Ping every search replica and every other service; report them with the index served.

        200 with status `ok` (bus up, replicas answer, an index is loaded, no service reports a
        problem) or `degraded` (no replica answered, none has an index, or `problems` names what a
        service cannot do, e.g. `telemetry: log not writable: ...`); 503 with status `down` when the
        message bus is unreachable.
        """
        replicas, services = await asyncio.gather(search_client.ping(), search_client.ping_services())
        bus = BusHealth(connected=search_client.connected, url=search_client.url)
        health = summarise(bus, replicas, services)
        return Response(health, status_code=503 if health.status == "down" else 200)
