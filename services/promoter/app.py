"""The promoter's FastStream app: bus connected and streams bootstrapped in the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from faststream import ContextRepo, FastStream

from services.promoter.handlers import router
from services.promoter.promotion import Promoter
from services.promoter.settings import PromoterSettings, promoter_settings
from shared.bus import connect
from shared.liveness import answer_pings
from shared.service import make_broker
from shared.streams import bootstrap

log = logging.getLogger("codesift.promoter")


def create_app(settings: PromoterSettings | None = None) -> FastStream:
    settings = settings or promoter_settings()
    broker = make_broker(settings)
    broker.include_router(router)

    @asynccontextmanager
    async def lifespan(context: ContextRepo) -> AsyncIterator[None]:
        nc = await connect(settings, "promoter", reconnect=True)
        js = await bootstrap(nc)
        context.set_global("promoter", Promoter(settings, nc, js))
        await answer_pings(nc, "promoter")
        log.info(
            "promoter ready (gate: >= %d triplets, MRR margin %.3f, Hit@5 tolerance %.3f)",
            settings.promote_min_triplets,
            settings.promote_mrr_margin,
            settings.promote_hit5_tolerance,
        )
        yield
        await nc.drain()

    return FastStream(broker, lifespan=lifespan)
