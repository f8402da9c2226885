"""What every FastStream service does the same way: its broker, and its `python -m` entry point."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable

from faststream import FastStream
from faststream.nats import NatsBroker
from faststream.nats.security import NatsUserPassword

from shared.bus import StackNotRunning, resolve_nats_url, server_list
from shared.fetch_timeouts import catch_every_fetch_timeout
from shared.health import HEALTH
from shared.nats_auth import credentials
from shared.observability import serve_metrics
from shared.settings import Settings, SettingsError, settings


def make_broker(settings: Settings) -> NatsBroker:
    """A broker that reconnects for ever (nats-server restarts) and logs per message only in debug;
    it logs in as CODESIFT_NATS_USER (shared.nats_auth.credentials)."""
    catch_every_fetch_timeout()
    login = credentials(settings)
    return NatsBroker(
        server_list(resolve_nats_url(settings)),
        security=NatsUserPassword(*login) if login else None,
        log_level=logging.DEBUG,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.25,
    )


def run_service(name: str, create_app: Callable[[], FastStream]) -> int:
    """Run a service until SIGTERM; a bad setting or no stack ends it with one line, exit code 1.

    Its metrics are served from the start (shared.observability), before the lifespan loads models;
    /healthz beside them answers 200 once the app has started, while its NATS connection is up.
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("faststream").setLevel(logging.WARNING)
    try:
        serve_metrics(settings(), name)
        app = create_app()
        HEALTH.watch(app)
        asyncio.run(app.run())
    except (SettingsError, StackNotRunning) as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 1
    return 0
