"""GET /metrics: the gateway's Prometheus metrics (only with CODESIFT_METRICS on)."""

from __future__ import annotations

from litestar import Controller, Request, Response, get

from shared.observability import metrics_text


class MetricsController(Controller):
    """Metrics for Prometheus; every other service serves its own on its metrics port."""

    path = "/metrics"
    include_in_schema = False

    @get(operation_id="metrics", sync_to_thread=False)
    def metrics(self, request: Request) -> Response[bytes]:
        """This process's metrics in the text format Prometheus asks for (its Accept header)."""
        body, content_type = metrics_text(request.headers.get("accept", ""))
        return Response(body, media_type=content_type)
