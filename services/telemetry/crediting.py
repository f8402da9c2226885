"""Crediting clicks in interleaved searches to the team that showed the result (shared/experiments.py).

A feedback event joined to an impression of an online experiment, with rating >= 4 (a click or a
thumbs up) on a result one team showed, credits that team in that search. Crediting is
idempotent (a search's key holds the set of credited docs), so a redelivered event changes nothing;
it runs before the event is written to the log, and a bus failure holds the batch back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from nats.js import JetStreamContext

from shared.experiments import credit_click
from shared.schemas import FeedbackEvent, Impression

CLICK_RATING = 4  # ratings from this up credit a team: a click (5) or a thumbs up


def credited(event: FeedbackEvent, impression: Impression | None) -> tuple[str, str, str, str] | None:
    """(experiment id, query id, doc id, side) when this event credits a team, else None."""
    if impression is None or impression.experiment is None or event.rating < CLICK_RATING:
        return None
    for shown in impression.results:
        if shown.doc_id == event.doc_id and shown.side is not None:
            return impression.experiment, impression.query_id, shown.doc_id, shown.side
    return None


async def credit_clicks(
    js: JetStreamContext, pairs: Iterable[tuple[FeedbackEvent, Impression | None]]
) -> int:
    """Credit every click among `pairs`; the number newly credited. Bus errors are the caller's."""
    credits = [c for event, impression in pairs if (c := credited(event, impression)) is not None]
    landed = await asyncio.gather(*(credit_click(js, *c) for c in credits))
    return sum(landed)
