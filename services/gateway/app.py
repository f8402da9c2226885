"""The gateway's Litestar app: controllers, error mapping, and the NATS connection's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from importlib.metadata import version

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin

from services.gateway.controllers import HealthController, PageController, SearchController
from services.gateway.controllers.pages import static_files
from services.gateway.errors import error_response
from services.gateway.search_client import SearchClient
from shared.bus import connect, resolve_nats_url
from shared.settings import Settings
from shared.settings import settings as default_settings


def bus_lifespan(settings: Settings) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """Open the gateway's one NATS connection at start-up (reconnecting), close it at shutdown."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        nc = await connect(settings, "gateway", reconnect=True)
        app.state.search_client = SearchClient(
            nc, resolve_nats_url(settings), timeout=settings.request_timeout
        )
        try:
            yield
        finally:
            await nc.close()

    return lifespan


def provide_search_client(state: State) -> SearchClient:
    client: SearchClient = state.search_client
    return client


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or default_settings()
    return Litestar(
        route_handlers=[SearchController, HealthController, PageController, static_files],
        dependencies={"search_client": Provide(provide_search_client, sync_to_thread=False)},
        exception_handlers={Exception: error_response},
        lifespan=[bus_lifespan(settings)],
        openapi_config=OpenAPIConfig(
            title="codesift",
            version=version("codesift"),
            use_handler_docstrings=True,
            # plain JSON at /schema: the HTML viewers load their scripts from a CDN, unreachable offline
            render_plugins=[JsonRenderPlugin(path=["/", "/openapi.json"])],
        ),
        logging_config=None,  # __main__ configures logging once for uvicorn and the app
    )
