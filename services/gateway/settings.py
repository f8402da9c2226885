"""Settings of the gateway: the shared ones plus what only the HTTP edge decides."""

from __future__ import annotations

import functools

from shared.settings import Settings, from_env


class GatewaySettings(Settings, kw_only=True):
    # Privacy: feedback events carry the client's IP address and user agent only when this is on.
    telemetry_store_client: bool = False
    # One line per HTTP request on stderr. Off by default: it adds ~30% to the gateway's CPU time per
    # feedback event (bench/feedback.py), and `codesift up` relays every line.
    http_access_log: bool = False


@functools.cache
def gateway_settings() -> GatewaySettings:
    return from_env(GatewaySettings)
