"""Handing feedback events to JetStream: accepted only once the FEEDBACK stream has stored them."""

from __future__ import annotations

import time

from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js import api

from services.gateway.errors import Unavailable
from services.gateway.feedback import with_client
from services.gateway.search_client import HOW_TO_START, redact
from shared.bus import wait_connected
from shared.schemas import FeedbackEvent, encoder
from shared.subjects import TELEMETRY_FEEDBACK

FEEDBACK_STREAM = "FEEDBACK"


class FeedbackClient:
    """The gateway's NATS connection, seen as the telemetry pipeline's durable inbox.

    store_client: keep the client's IP address and user agent in the events (off by default:
    CODESIFT_TELEMETRY_STORE_CLIENT). Whatever a client put in those fields itself is never kept.
    """

    def __init__(self, nc: Client, url: str, *, timeout: float, store_client: bool = False) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self.url = redact(url)
        self._timeout = timeout
        self.store_client = store_client

    @property
    def connected(self) -> bool:
        return self._nc.is_connected

    async def publish(
        self, event: FeedbackEvent, *, client_ip: str | None = None, user_agent: str | None = None
    ) -> api.PubAck:
        """Store `event` in the FEEDBACK stream; raise Unavailable unless JetStream acknowledged it.

        The event id is the message id, so an event sent again (a client retrying after a lost
        answer) is acknowledged as a duplicate and stored once.
        """
        kept = (client_ip, user_agent) if self.store_client else (None, None)
        event = with_client(event, *kept)
        began = time.monotonic()
        if not await wait_connected(self._nc, self._timeout / 2):  # a bus restart: wait, then store
            raise Unavailable(f"the message bus at {self.url} is unreachable: {HOW_TO_START}")
        try:
            return await self._js.publish(
                TELEMETRY_FEEDBACK,
                encoder.encode(event),
                timeout=max(0.5, self._timeout - (time.monotonic() - began)),
                stream=FEEDBACK_STREAM,
                headers={api.Header.MSG_ID: event.event_id},
            )
        except (NatsError, TimeoutError) as exc:
            raise Unavailable(
                f"the feedback was not stored: JetStream at {self.url} did not acknowledge it "
                f"({exc or type(exc).__name__}); send the same event again: {HOW_TO_START}"
            ) from None
