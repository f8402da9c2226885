"""The trainer's FastStream app: recovers from a crash at start-up, then consumes mine/train commands."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from faststream import ContextRepo, FastStream

from services.trainer import jobs
from services.trainer.handlers import router
from services.trainer.loop import learning_loop
from services.trainer.pipeline import Trainer
from services.trainer.settings import TrainerSettings, trainer_settings
from shared.bus import connect
from shared.liveness import answer_pings
from shared.service import make_broker
from shared.streams import bootstrap

log = logging.getLogger("codesift.trainer")


def create_app(settings: TrainerSettings | None = None) -> FastStream:
    settings = settings or trainer_settings()
    broker = make_broker(settings)
    broker.include_router(router)

    @asynccontextmanager
    async def lifespan(context: ContextRepo) -> AsyncIterator[None]:
        nc = await connect(settings, "trainer", reconnect=True)
        js = await bootstrap(nc)
        settings.models.mkdir(parents=True, exist_ok=True)
        interrupted = await jobs.recover(nc, js, [settings.models])
        if interrupted:
            log.warning("job %s had been interrupted; marked failed", interrupted)
        trainer = Trainer(settings, nc, js)
        context.set_global("trainer", trainer)
        await answer_pings(nc, "trainer")
        log.info("trainer ready (models in %s)", settings.models)
        async with learning_loop(settings, js) as loop:
            if loop.schedule.enabled:
                log.info("continuous learning: %s", loop.schedule)
            yield
        trainer.cancel.set()
        await nc.drain()

    return FastStream(broker, lifespan=lifespan)
