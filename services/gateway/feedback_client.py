"""Handing feedback events to JetStream: accepted only once the FEEDBACK stream has stored them."""

from __future__ import annotations

import time

from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js import api

from services.gateway.errors import Unavailable
from services.gateway.feedback import with_client
from services.gateway.leader_wait import through_election
from services.gateway.search_client import HOW_TO_START, redact
from shared.bus import wait_connected
from shared.schemas import FeedbackEvent, encoder
from shared.subjects import TELEMETRY_FEEDBACK

FEEDBACK_STREAM = "FEEDBACK"


class FeedbackClient:
    """The gateway's NATS connection, seen as the telemetry pipeline's durable inbox.

    store_client: keep the client's IP address and user agent in the events (off by default:
    CODESIFT_TELEMETRY_STORE_CLIENT). Whatever a client put in those fields itself is never kept.
    clustered: the stream has replicas on several nats-servers (CODESIFT_JETSTREAM_REPLICAS > 1):
    when none answers for it, its leader's node has just died and the others are electing a new
    one (~5 s), so the event is offered again for up to half the timeout before 503.
    """

    def __init__(
        self, nc: Client, url: str, *, timeout: float, store_client: bool = False, clustered: bool = False
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self.url = redact(url)
        self._timeout = timeout
        self.store_client = store_client
        self._leader_wait = timeout / 2 if clustered else 0.0

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
        payload = encoder.encode(event)

        async def store(seconds: float) -> api.PubAck:
            return await self._js.publish(
                TELEMETRY_FEEDBACK,
                payload,
                timeout=seconds,
                stream=FEEDBACK_STREAM,
                headers={api.Header.MSG_ID: event.event_id},
            )

        try:  # no leader (yet): offered again with the same id, so stored once whatever happens
            waited = time.monotonic() - began  # for the bus to come back: counted in both bounds
            return await through_election(store, self._timeout - waited, self._leader_wait - waited)
        except (NatsError, TimeoutError) as exc:
            raise self.unavailable(exc) from None

    def unavailable(self, exc: BaseException) -> Unavailable:
        return Unavailable(
            f"the feedback was not stored: JetStream at {self.url} did not acknowledge it "
            f"({exc or type(exc).__name__}); send the same event again: {HOW_TO_START}"
        )
