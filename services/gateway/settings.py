"""Settings of the gateway: the shared ones plus what only the HTTP edge decides."""

from __future__ import annotations

import functools
from typing import Annotated

import msgspec

from shared.settings import Settings, from_env


class GatewaySettings(Settings, kw_only=True):
    # Privacy: feedback events carry the client's IP address and user agent only when this is on.
    telemetry_store_client: bool = False
    # One line per HTTP request on stderr (off: at thousands of feedback events/s it costs more than
    # the requests, and the supervisor relays every line).
    http_access_log: bool = False
    # uvicorn worker processes sharing the HTTP port, each with its own NATS connection.
    http_workers: Annotated[int, msgspec.Meta(ge=1, le=32)] = 1


@functools.cache
def gateway_settings() -> GatewaySettings:
    return from_env(GatewaySettings)
