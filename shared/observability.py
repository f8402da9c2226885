"""Prometheus metrics for operators: where each process serves them, and the buckets they share.

Every process keeps its own metrics in prometheus_client's default registry and Prometheus pulls
them: the gateway at `/metrics` on its HTTP port, every other service (search replicas, indexer,
telemetry, trainer, evaluator, promoter) on a metrics port of its own (CODESIFT_METRICS_HOST /
CODESIFT_METRICS_PORT; 0 lets the OS pick one, which is logged). `codesift up` gives each process
a free port, records them in DATA_DIR/stack.json and writes a Prometheus file_sd targets file;
containers use one fixed port (9464), scraped through the compose DNS name or the pods'
`prometheus.io/*` annotations. The same port answers `/healthz` (shared/health.py): 200 while the
service runs and its NATS connection is up, 503 and the reason otherwise; deploy/ probes it.
CODESIFT_METRICS=false opens no port, no /metrics and no /healthz, and search replicas then neither
read the clock nor record anything per search.

The metrics themselves are defined beside the code that moves them (`instruments.py` of each
service, `shared/jobs.py` for jobs): names start with `codesift_`, durations are `_seconds`,
counters `_total`, and labels take few values (replica, stage, kind, outcome, gate).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import REGISTRY, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer, choose_encoder

from shared.health import HEALTH
from shared.settings import Settings, SettingsError

log = logging.getLogger("codesift.metrics")

CONTAINER_PORT = 9464  # the metrics port every codesift container listens on (deploy/)
HEALTH_PATH = "/healthz"
# Seconds: a search stage takes ~0.1 ms (BM25) to ~0.5 s (a cross-encoder over 50 pairs).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Seconds: jobs take from a second (a promotion) to an hour (a long training run).
JOB_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0)
# Seconds from JetStream storing a feedback event to its line in the log (held events wait seconds).
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


def serve_metrics(
    settings: Settings, service: str, health: Callable[[], str | None] = HEALTH.problem
) -> int | None:
    """Serve this process's metrics (and /healthz: `health` says what is wrong, None when nothing is)
    on CODESIFT_METRICS_HOST:PORT from a daemon thread.

    Returns the port (the one the OS chose for port 0), or None when metrics are off. A port that
    cannot be bound raises SettingsError naming the variable: the service stops at start-up.
    """
    if not settings.metrics:
        return None
    try:
        server = start_server(settings.metrics_host, settings.metrics_port, health)
    except OSError as exc:
        raise SettingsError(
            f"CODESIFT_METRICS_PORT={settings.metrics_port}: cannot listen on "
            f"{settings.metrics_host}:{settings.metrics_port} ({exc.strerror or exc}); pick another port, "
            "0 for a free one, or CODESIFT_METRICS=false"
        ) from None
    port = int(server.server_port)
    log.info("%s metrics on http://%s:%d/metrics", service, settings.metrics_host, port)
    return port


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # a line per scrape or probe would drown the service's own log


def health_app(
    metrics: Callable[..., Iterable[bytes]], health: Callable[[], str | None]
) -> Callable[..., Any]:
    """The WSGI app of the metrics port: /healthz answers from `health`, everything else is metrics."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != HEALTH_PATH:
            return metrics(environ, start_response)
        problem = health()
        status = "200 OK" if problem is None else "503 Service Unavailable"
        body = ("ok" if problem is None else problem).encode() + b"\n"
        start_response(
            status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
        )
        return [body]

    return app


def start_server(host: str, port: int, health: Callable[[], str | None]) -> ThreadingWSGIServer:
    """prometheus_client's start_http_server, with /healthz beside /metrics."""

    class Server(ThreadingWSGIServer):
        pass

    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    Server.address_family = family
    app = health_app(make_wsgi_app(REGISTRY), health)
    server = make_server(address[0], port, app, Server, handler_class=QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server


def metrics_text(accept: str = "") -> tuple[bytes, str]:
    """This process's metrics and their content type, in the format an Accept header asks for.

    What the gateway's /metrics answers: the Prometheus text format, or OpenMetrics when asked
    (the negotiation prometheus_client's own metrics server does).
    """
    encode, content_type = choose_encoder(accept)
    return encode(REGISTRY), content_type
