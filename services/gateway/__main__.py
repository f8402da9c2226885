"""`python -m services.gateway`: serve the gateway with uvicorn on CODESIFT_HTTP_HOST:CODESIFT_HTTP_PORT."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn

from services.gateway.app import create_app
from services.gateway.settings import gateway_settings
from shared.bus import StackNotRunning, connect
from shared.settings import Settings

LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "short": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s", "datefmt": "%H:%M:%S"}
    },
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "short"}},
    "root": {"handlers": ["stderr"], "level": "INFO"},
}


async def check_bus(config: Settings) -> None:
    """Fail in one line, before uvicorn starts, when no stack answers (the lifespan would fail in 40)."""
    nc = await connect(config, "gateway-check")
    await nc.close()


def main() -> None:
    config = gateway_settings()
    try:
        asyncio.run(check_bus(config))
    except StackNotRunning as exc:
        raise SystemExit(f"gateway: {exc}") from None
    # uvicorn serves with httptools and uvloop when they are installed, h11 and asyncio otherwise
    # (~180 against ~290 us of CPU per feedback event, bench/feedback.py).
    uvicorn.run(
        create_app(config),
        host=config.http_host,
        port=config.http_port,
        log_config=LOG_CONFIG,
        access_log=config.http_access_log,
    )


if __name__ == "__main__":
    main()
