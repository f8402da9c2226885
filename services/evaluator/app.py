"""The evaluator's FastStream app: consumes evaluate commands and trained-model events."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from faststream import ContextRepo, FastStream

from services.evaluator.handlers import router
from services.evaluator.pipeline import Evaluator
from services.evaluator.settings import EvaluatorSettings, evaluator_settings
from shared.bus import connect
from shared.liveness import answer_pings
from shared.service import make_broker
from shared.streams import bootstrap

log = logging.getLogger("codesift.evaluator")


def create_app(settings: EvaluatorSettings | None = None) -> FastStream:
    settings = settings or evaluator_settings()
    broker = make_broker(settings)
    broker.include_router(router)

    @asynccontextmanager
    async def lifespan(context: ContextRepo) -> AsyncIterator[None]:
        nc = await connect(settings, "evaluator", reconnect=True)
        js = await bootstrap(nc)
        context.set_global("evaluator", Evaluator(settings, nc, js))
        await answer_pings(nc, "evaluator")
        log.info(
            "evaluator ready (golden %s, models in %s, top-N %d)",
            settings.golden_path,
            settings.models,
            settings.reranker_topn,
        )
        yield
        await nc.drain()

    return FastStream(broker, lifespan=lifespan)
