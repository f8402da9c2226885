"""`python -m services.gateway`: serve the gateway with uvicorn on CODESIFT_HTTP_HOST:CODESIFT_HTTP_PORT.

`python -m services.gateway mcp [--http PORT]`: the MCP server alone, over stdio (what `codesift mcp`
runs for editors and agent CLIs) or over streamable HTTP at http://CODESIFT_HTTP_HOST:PORT/mcp.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from services.gateway.settings import GatewaySettings, gateway_settings
from shared.bus import StackNotRunning, connect
from shared.settings import Settings, SettingsError

LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "short": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s", "datefmt": "%H:%M:%S"}
    },
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "short"}},
    "root": {"handlers": ["stderr"], "level": "INFO"},
    "loggers": {"mcp": {"level": "WARNING"}},  # the MCP SDK logs every session and refused call at INFO
}


async def check_bus(config: Settings) -> None:
    """Fail in one line, before uvicorn starts, when no stack answers (the lifespan would fail in 40)."""
    nc = await connect(config, "gateway-check")
    await nc.close()


def serve_gateway(config: GatewaySettings) -> None:
    import uvicorn

    from services.gateway.app import create_app

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


def serve_mcp(config: GatewaySettings, http_port: int | None) -> None:
    from services.gateway.mcp import transports

    transports.log_to_stderr()
    try:
        if http_port is None:
            asyncio.run(transports.serve_stdio(config))
        else:
            asyncio.run(transports.serve_http(config, http_port, LOG_CONFIG))
    except StackNotRunning as exc:
        raise SystemExit(f"codesift mcp: {exc}") from None
    except KeyboardInterrupt:
        pass


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1..65535, got {value}")
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.gateway", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    mcp = sub.add_parser("mcp", help="the MCP server alone (stdio unless --http)")
    mcp.add_argument("--http", type=port, default=None, metavar="PORT", help="streamable HTTP on this port")
    args = parser.parse_args(argv)
    try:
        config = gateway_settings()
    except SettingsError as exc:
        raise SystemExit(f"gateway: {exc}") from None
    if args.command == "mcp":
        serve_mcp(config, args.http)
    else:
        serve_gateway(config)


if __name__ == "__main__":
    main()
