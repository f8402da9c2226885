"""Serving the MCP server: over stdio, over streamable HTTP on its own port, or mounted in the gateway.

- stdio (`python -m services.gateway mcp`, what `codesift mcp` runs): an editor or agent CLI starts
  the process and speaks JSON-RPC on its stdin/stdout. Nothing else may reach stdout: logs go to
  stderr.
- streamable HTTP on a port of its own (`... mcp --http PORT`): http://127.0.0.1:PORT/mcp.
- mounted in the gateway at /mcp (`http_endpoint`), sharing its NATS connection and clients.

Each opens its own backend (`open_backend`) on the stack's NATS, found as every command finds it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import asgi
from litestar.handlers.asgi_handlers import ASGIRouteHandler
from litestar.types import Receive, Scope, Send

from services.gateway.auth import READ, READ_LEVEL, Access
from services.gateway.feedback_client import FeedbackClient
from services.gateway.mcp.llm import LlmConfig, LlmWriter
from services.gateway.mcp.server import CodesiftServer, build_server
from services.gateway.mcp.tools import Backend, CodesiftTools
from services.gateway.models_client import ModelsClient
from services.gateway.search_client import SearchClient
from services.gateway.settings import GatewaySettings
from shared.bus import connect, resolve_nats_url

MOUNT_PATH = "/mcp"
log = logging.getLogger("codesift.mcp")


def llm_writer(settings: GatewaySettings) -> LlmWriter | None:
    """The language model rag_answer asks, when CODESIFT_LLM_BASE_URL names one."""
    if not settings.llm_base_url:
        return None
    return LlmWriter(
        LlmConfig(
            base_url=settings.llm_base_url,
            model=settings.llm_model,
            api_key=settings.llm_api_key,
            timeout=settings.llm_timeout,
            max_tokens=settings.llm_max_tokens,
        )
    )


@asynccontextmanager
async def open_backend(settings: GatewaySettings, name: str = "gateway-mcp") -> AsyncIterator[Backend]:
    """A NATS connection of its own (raises StackNotRunning when none answers) and the clients on it."""
    nc = await connect(settings, name, reconnect=True)
    url = resolve_nats_url(settings)
    writer = llm_writer(settings)
    try:
        yield Backend(
            search=SearchClient(nc, url, timeout=settings.request_timeout),
            feedback=FeedbackClient(
                nc, url, timeout=settings.request_timeout, clustered=settings.jetstream_replicas > 1
            ),
            models=ModelsClient(nc, settings.data_dir),
            js=nc.jetstream(),
            writer=writer,
        )
    finally:
        if writer is not None:
            await writer.close()
        await nc.close()


def log_to_stderr() -> None:
    """Every log line to stderr: in stdio mode stdout carries the protocol and nothing else."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    logging.getLogger("mcp").setLevel(logging.WARNING)  # one INFO line per request otherwise


async def serve_stdio(settings: GatewaySettings) -> None:
    async with open_backend(settings) as backend:
        server = build_server(CodesiftTools(backend))
        log.info("codesift MCP server on stdio, stack at %s", backend.search.url)
        await server.run_stdio_async()


async def serve_http(settings: GatewaySettings, port: int, log_config: dict[str, object]) -> None:
    import uvicorn

    async with open_backend(settings) as backend:
        server = build_server(CodesiftTools(backend))
        app = server.streamable_http_app(
            streamable_http_path=MOUNT_PATH, json_response=True, host=settings.http_host
        )
        log.info("codesift MCP server at http://%s:%d%s", settings.http_host, port, MOUNT_PATH)
        config = uvicorn.Config(
            Access(settings).wrap(app, READ_LEVEL),  # CODESIFT_READ_TOKEN, as at the gateway's /mcp
            host=settings.http_host,
            port=port,
            log_config=log_config,
            access_log=settings.http_access_log,
        )
        await uvicorn.Server(config).serve()


class MountedMcp:
    """The MCP server inside the gateway: an ASGI route at /mcp, run by the gateway's lifespan."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.tools = CodesiftTools()
        self.server: CodesiftServer = build_server(self.tools)
        # Builds the session manager (json answers, no SSE streams: each tool call is one request);
        # the Starlette app it returns is not used, the route below calls the manager itself.
        self.server.streamable_http_app(json_response=True, host=settings.http_host)

    def route(self) -> ASGIRouteHandler:
        manager = self.server.session_manager

        @asgi(MOUNT_PATH, is_mount=True, copy_scope=True, name="mcp", opt=READ)
        async def mcp_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
            """The MCP server over streamable HTTP (tools rag_search, rag_answer, rag_feedback)."""
            await manager.handle_request(scope, receive, send)  # type: ignore[arg-type]

        return mcp_endpoint

    @asynccontextmanager
    async def running(self, backend: Backend) -> AsyncIterator[None]:
        self.tools.bind(backend)
        try:
            async with self.server.session_manager.run():
                yield
        finally:
            self.tools.bind(None)
