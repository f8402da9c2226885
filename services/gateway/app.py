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

from services.gateway.auth import Access, security_components, security_headers
from services.gateway.controllers import (
    HealthController,
    PageController,
    SearchController,
    TelemetryController,
)
from services.gateway.controllers.experiments import ExperimentController
from services.gateway.controllers.learning import LearningController
from services.gateway.controllers.metrics import MetricsController
from services.gateway.controllers.pages import static_files
from services.gateway.controllers.reranker import RerankerController
from services.gateway.errors import error_response
from services.gateway.experiments_client import ExperimentsClient
from services.gateway.feedback_client import FeedbackClient
from services.gateway.jobs_client import JobsClient
from services.gateway.mcp.tools import Backend
from services.gateway.mcp.transports import MountedMcp, llm_writer
from services.gateway.models_client import ModelsClient
from services.gateway.search_client import SearchClient
from services.gateway.settings import GatewaySettings, gateway_settings
from shared.bus import connect, resolve_nats_url
from shared.streams import bootstrap


def bus_lifespan(
    settings: GatewaySettings, mcp: MountedMcp
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """Open the gateway's one NATS connection at start-up (reconnecting), close it at shutdown.

    The streams are created here (idempotently), so feedback has somewhere durable to go even
    when the gateway starts before every other service. The MCP server at /mcp runs on the same
    clients, from here to shutdown.
    """

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        nc = await connect(settings, "gateway", reconnect=True)
        url = resolve_nats_url(settings)
        writer = llm_writer(settings)
        try:
            await bootstrap(nc, settings.jetstream_replicas)
            app.state.search_client = SearchClient(nc, url, timeout=settings.request_timeout)
            app.state.jobs_client = JobsClient(
                nc, timeout=settings.request_timeout, clustered=settings.jetstream_replicas > 1
            )
            app.state.models_client = ModelsClient(nc, settings.data_dir)
            app.state.experiments_client = ExperimentsClient(nc)
            app.state.feedback_client = FeedbackClient(
                nc,
                url,
                timeout=settings.request_timeout,
                store_client=settings.telemetry_store_client,
                clustered=settings.jetstream_replicas > 1,
            )
            backend = Backend(
                search=app.state.search_client,
                feedback=app.state.feedback_client,
                models=app.state.models_client,
                js=nc.jetstream(),
                writer=writer,
            )
            async with mcp.running(backend):
                yield
        finally:
            if writer is not None:
                await writer.close()
            await nc.close()

    return lifespan


def provide_search_client(state: State) -> SearchClient:
    client: SearchClient = state.search_client
    return client


def provide_feedback_client(state: State) -> FeedbackClient:
    client: FeedbackClient = state.feedback_client
    return client


def provide_jobs_client(state: State) -> JobsClient:
    client: JobsClient = state.jobs_client
    return client


def provide_models_client(state: State) -> ModelsClient:
    client: ModelsClient = state.models_client
    return client


def provide_experiments_client(state: State) -> ExperimentsClient:
    client: ExperimentsClient = state.experiments_client
    return client


def create_app(settings: GatewaySettings | None = None) -> Litestar:
    settings = settings or gateway_settings()
    mcp = MountedMcp(settings)
    access = Access(settings)
    app = Litestar(
        route_handlers=[
            SearchController,
            HealthController,
            TelemetryController,
            RerankerController,
            LearningController,
            ExperimentController,
            PageController,
            static_files,
            mcp.route(),
            *([MetricsController] if settings.metrics else []),
        ],
        dependencies={
            "search_client": Provide(provide_search_client, sync_to_thread=False),
            "feedback_client": Provide(provide_feedback_client, sync_to_thread=False),
            "jobs_client": Provide(provide_jobs_client, sync_to_thread=False),
            "models_client": Provide(provide_models_client, sync_to_thread=False),
            "experiments_client": Provide(provide_experiments_client, sync_to_thread=False),
        },
        exception_handlers={Exception: error_response},
        middleware=[access.middleware] if access.required else [],
        before_send=[security_headers],
        lifespan=[bus_lifespan(settings, mcp)],
        openapi_config=OpenAPIConfig(
            title="codesift",
            version=version("codesift"),
            use_handler_docstrings=True,
            # plain JSON at /schema: the HTML viewers load their scripts from a CDN, unreachable offline
            render_plugins=[JsonRenderPlugin(path=["/", "/openapi.json"])],
            components=security_components(),
        ),
        logging_config=None,  # __main__ configures logging once for uvicorn and the app
    )
    access.declare(app)
    return app
