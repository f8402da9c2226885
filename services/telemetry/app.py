"""FastStream app of the telemetry service: the log is opened and the bus connected in the lifespan."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from faststream import ContextRepo, FastStream

from services.telemetry.handlers import ensure_consumer, feedback_router
from services.telemetry.joining import ImpressionJoiner
from services.telemetry.log_writer import LogWriter
from services.telemetry.recording import FeedbackRecorder
from services.telemetry.settings import TelemetrySettings, log_file, telemetry_settings
from shared.bus import connect
from shared.liveness import answer_pings
from shared.service import make_broker
from shared.streams import bootstrap

log = logging.getLogger("codesift.telemetry")


def create_app(settings: TelemetrySettings | None = None) -> FastStream:
    settings = settings or telemetry_settings()
    broker = make_broker(settings)
    broker.include_router(feedback_router(settings))

    @asynccontextmanager
    async def lifespan(context: ContextRepo) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            writer = LogWriter(
                log_file(settings), rotate_bytes=settings.log_rotate_bytes, keep=settings.log_keep
            )
            stack.push_async_callback(asyncio.to_thread, writer.close)
            try:
                await asyncio.to_thread(writer.open)
                problem = None
            except OSError as exc:  # e.g. a read-only disk: start anyway, hold events, say why
                log.error("cannot open %s: %s; events are held back until it can", writer.path, exc)
                problem = f"log not writable: {exc}"
            nc = await connect(settings, "telemetry", reconnect=True)
            stack.push_async_callback(nc.drain)
            js = await bootstrap(nc)
            await ensure_consumer(js, settings)
            recorder = FeedbackRecorder(
                writer,
                ImpressionJoiner(js, settings.telemetry_impression_cache),
                js,
                join_attempts=settings.telemetry_join_attempts,
                retry_delay=settings.telemetry_retry_delay,
            )
            recorder.log_problem = problem
            context.set_global("recorder", recorder)
            await answer_pings(nc, "telemetry", recorder.problems)
            log.info("telemetry ready: writing %s", writer.path)
            yield

    return FastStream(broker, lifespan=lifespan)
