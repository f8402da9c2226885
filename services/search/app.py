"""FastStream apps of the search service: a replica, or the indexer. Heavy things load once here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import nats
from faststream import ContextRepo, FastStream

from services.search.embedding import Embedder
from services.search.experiment import ExperimentWatcher
from services.search.handlers import indexer_router, load_index, replica_router
from services.search.indexing import Indexer
from services.search.model_loader import RerankerLoader
from services.search.replica import Replica
from services.search.settings import SearchSettings, search_settings
from services.search.snapshots import current_pointer
from shared.bus import log_connection_error, nats_login, resolve_nats_url, server_list
from shared.liveness import answer_pings
from shared.service import make_broker
from shared.streams import bootstrap

log = logging.getLogger("codesift.search")


class EmbedderMissing(RuntimeError):
    pass


def locate_embedder(settings: SearchSettings) -> Path:
    """The exported ONNX embedder: CODESIFT_EMBED_ONNX_DIR, else the newest export in the cache."""
    if settings.embed_onnx_dir:
        path = Path(settings.embed_onnx_dir)
        if not (path / "embedder.json").exists():
            raise EmbedderMissing(f"CODESIFT_EMBED_ONNX_DIR={path}: no exported embedder there")
        return path
    exports = sorted(
        (settings.cache_dir / "embedder").glob("*/embedder.json"), key=lambda p: p.stat().st_mtime
    )
    if not exports:
        raise EmbedderMissing(
            f"no exported embedder under {settings.cache_dir / 'embedder'}: run "
            "`python -m services.search.export_embedder` (codesift up does it)"
        )
    return exports[-1].parent


def load_embedder(settings: SearchSettings) -> Embedder:
    return Embedder(
        locate_embedder(settings),
        quantized=settings.embed_quantize,
        max_length=settings.embed_max_length,
        batch_size=settings.embed_batch_size,
        threads=settings.embed_threads,
    )


async def connect_for_ever(settings: SearchSettings, name: str) -> nats.NATS:
    """Wait for the server at start (a replica may start before it) and reconnect as fast as the
    services' brokers do (0.25 s, not nats-py's 2 s), logging one line per failed attempt."""
    return await nats.connect(
        server_list(resolve_nats_url(settings)),
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.25,
        error_cb=log_connection_error,
        **nats_login(settings),
    )


def create_replica_app(settings: SearchSettings | None = None) -> FastStream:
    settings = settings or search_settings()
    broker = make_broker(settings)
    broker.include_router(replica_router)
    loader: RerankerLoader | None = None
    started: tuple[Replica, object] | None = None  # the replica and its JetStream context

    @asynccontextmanager
    async def lifespan(context: ContextRepo) -> AsyncIterator[None]:
        nonlocal loader, started
        replica = Replica(settings, load_embedder(settings))
        nc = await connect_for_ever(settings, replica.replica_id)
        js = await bootstrap(nc)
        started = (replica, js)
        pointer = await current_pointer(js)
        if pointer is not None:
            await load_index(replica, js, pointer)
        loader = RerankerLoader(replica, js, settings)
        await loader.start()
        poll = asyncio.create_task(loader.poll())
        experiments = asyncio.create_task(ExperimentWatcher(replica, loader, js).run())
        context.set_global("replica", replica)
        context.set_global("reranker_loader", loader)
        context.set_global("nc", nc)
        context.set_global("js", js)
        log.info("replica %s ready (reranker: %s)", replica.replica_id, replica.reranker_label())
        yield
        for task in (poll, experiments):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await nc.drain()

    async def caught_up() -> None:
        """Subscribers are live (the broker starts after the lifespan): read the pointers once more.

        An index or model published between the lifespan's reads and the subscriptions going live
        was announced to nobody here: without this the replica would serve the older one until
        the next announcement (under load, a replica that had just started missed an index).
        """
        await broker.connection.flush()  # the server has our subscriptions once it answers the ping
        if started is not None:
            replica, js = started
            pointer = await current_pointer(js)
            if pointer is not None:
                await load_index(replica, js, pointer)  # nothing to do when it is the one served
        if loader is not None:
            await loader.subscribed()

    return FastStream(broker, lifespan=lifespan, after_startup=[caught_up])


def create_indexer_app(settings: SearchSettings | None = None) -> FastStream:
    settings = settings or search_settings()
    broker = make_broker(settings)
    broker.include_router(indexer_router)

    @asynccontextmanager
    async def lifespan(context: ContextRepo) -> AsyncIterator[None]:
        indexer = Indexer(settings, load_embedder(settings))
        nc = await connect_for_ever(settings, "indexer")
        js = await bootstrap(nc)
        await indexer.restore(js)
        context.set_global("indexer", indexer)
        context.set_global("nc", nc)
        context.set_global("js", js)
        await answer_pings(nc, "indexer")
        log.info("indexer ready")
        yield
        await nc.drain()

    return FastStream(broker, lifespan=lifespan)
