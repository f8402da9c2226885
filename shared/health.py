"""Is this service up? What `/healthz` on its metrics port answers (shared/observability.py).

A FastStream service is healthy once its app has started (lifespan done: models and index loaded,
subscribers consuming) and while its broker's NATS connection is up; before that, while NATS is
unreachable (the broker reconnects for ever) and after shutdown began, it is not, and the answer
says why. deploy/ probes it: Kubernetes readiness, liveness and start-up probes, compose
healthchecks. The gateway has its own, /api/health on its HTTP port.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faststream import FastStream

STARTING = "starting: the app has not finished starting"
STOPPING = "stopping"
DISCONNECTED = "NATS connection lost: reconnecting"


class ServiceHealth:
    """What one process reports; `watch` ties it to its FastStream app."""

    def __init__(self) -> None:
        self.started = False
        self.stopping = False
        self.broker: Any = None

    def watch(self, app: FastStream) -> None:
        self.broker = app.broker

        @app.after_startup
        def _started() -> None:
            self.started = True

        @app.on_shutdown
        def _stopping() -> None:
            self.stopping = True

    def problem(self) -> str | None:
        """None while healthy, else why not."""
        if self.stopping:
            return STOPPING
        if not self.started or self.broker is None:
            return STARTING
        try:
            connected = bool(self.broker.connection.is_connected)
        except Exception:  # no connection object yet, or one being torn down
            connected = False
        return None if connected else DISCONNECTED


HEALTH = ServiceHealth()  # this process's; shared.service.run_service watches the service's app
