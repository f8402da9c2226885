"""GET /api/health: is the bus up, which replicas answer, which index they serve."""

from __future__ import annotations

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
        """Ping every search replica and report them with the index they serve.

        200 with status `ok` (bus up, replicas answer, an index is loaded) or `degraded` (no replica
        answered, or none has an index); 503 with status `down` when the message bus is unreachable.
        """
        replicas = await search_client.ping()
        health = summarise(BusHealth(connected=search_client.connected, url=search_client.url), replicas)
        return Response(health, status_code=503 if health.status == "down" else 200)
