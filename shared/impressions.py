"""Reading one search's impression (what it showed, in which order) back from stream IMPRESSIONS.

A replica stores the impression before it answers, on `codesift.telemetry.impression.<query_id>`;
the telemetry service joins feedback to it and the gateway's MCP server checks an agent's feedback
against it.
"""

from __future__ import annotations

import logging

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from shared import subjects
from shared.schemas import Impression, impression_decoder

log = logging.getLogger("codesift.impressions")

IMPRESSIONS_STREAM = "IMPRESSIONS"


async def find_impression(js: JetStreamContext, query_id: str) -> Impression | None:
    """The impression of search `query_id`; None when there is none (or it is unreadable, logged).

    Bus errors (nats.errors.Error, TimeoutError) are the caller's to handle: try again later.
    """
    try:
        raw = await js.get_last_msg(IMPRESSIONS_STREAM, subjects.impression_subject(query_id))
    except NotFoundError:
        return None
    try:
        return impression_decoder.decode(raw.data or b"")
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        log.warning("impression %s is malformed: %s", query_id, exc)
        return None
