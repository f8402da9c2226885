"""POST /api/telemetry/event: 202 only once JetStream stored the event, 400 naming the field, 503."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import msgspec
import nats
import pytest
from litestar.testing import AsyncTestClient
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext

from services.gateway.app import create_app
from services.gateway.feedback import MAX_EVENT_BYTES
from services.gateway.settings import GatewaySettings
from shared.schemas import FeedbackEvent, feedback_decoder
from shared.subjects import TELEMETRY_FEEDBACK
from tests.conftest import NatsServer

URL = "/api/telemetry/event"
QUERY_ID = "0123456789abcdef0123456789abcdef"


def event(**changes: Any) -> dict[str, Any]:
    """A valid click event, with `changes` applied (a value of ... removes the field)."""
    body: dict[str, Any] = {
        "event_id": "2f1c7a9e-5b7d-4c1e-9f0a-3b2d1e4f5a6b",
        "query": "where is the bearer token validated",
        "doc_id": "src/auth/tokens.py:10-24",
        "rating": 5,
        "source": "click",
        "timestamp": "2026-11-25T12:00:00.125Z",
        "query_id": QUERY_ID,
        "position": 2,
        "repo": "sample",
    }
    body.update(changes)
    return {key: value for key, value in body.items() if value is not ...}


def decoded(body: dict[str, Any]) -> FeedbackEvent:
    return feedback_decoder.decode(msgspec.json.encode(body))


NOTE = event(source="note", doc_id="", rating=1, position=..., note="the refresh flow is not indexed")


@dataclass
class FeedbackStream:
    """What reached the FEEDBACK stream, and what was published on its subject at all."""

    js: JetStreamContext
    subscription: Subscription  # a core subscription: sees a publish even if no stream stored it

    async def count(self) -> int:
        return int((await self.js.stream_info("FEEDBACK")).state.messages)

    async def stored(self) -> list[tuple[FeedbackEvent, dict[str, str]]]:
        """Every stored event with its headers, in stream order."""
        state = (await self.js.stream_info("FEEDBACK")).state
        messages = [
            await self.js.get_msg("FEEDBACK", seq) for seq in range(state.first_seq, state.last_seq + 1)
        ]
        return [(feedback_decoder.decode(m.data or b""), dict(m.headers or {})) for m in messages]

    async def published(self, wait: float = 0.2) -> list[bytes]:
        seen = []
        while True:
            try:
                seen.append((await self.subscription.next_msg(timeout=wait)).data)
            except nats.errors.TimeoutError:
                return seen


@pytest.fixture
async def feedback(client: AsyncTestClient, nats_server: NatsServer) -> AsyncIterator[FeedbackStream]:
    nc = await nats.connect(nats_server.url)
    subscription = await nc.subscribe(TELEMETRY_FEEDBACK)
    await nc.flush()
    yield FeedbackStream(nc.jetstream(), subscription)
    await nc.close()


async def post(client: AsyncTestClient, body: dict[str, Any] | bytes, **headers: str) -> Any:
    content = body if isinstance(body, bytes) else msgspec.json.encode(body)  # UTF-8, as browsers send
    return await client.post(URL, content=content, headers={"Content-Type": "application/json", **headers})


# ---------------------------------------------------------------- accepted means stored


async def test_202_only_once_the_event_is_in_the_stream(
    client: AsyncTestClient, feedback: FeedbackStream
) -> None:
    sent = event()

    answer = await post(client, sent)

    assert answer.status_code == 202
    assert answer.json() == {"event_id": sent["event_id"], "status": "accepted"}
    # read back at once, without waiting: the answer came after JetStream's acknowledgement
    [(stored, headers)] = await feedback.stored()
    assert stored == decoded(sent)
    assert headers["Nats-Msg-Id"] == sent["event_id"]


async def test_a_note_and_an_epoch_timestamp_are_accepted(
    client: AsyncTestClient, feedback: FeedbackStream
) -> None:
    epoch = event(event_id="thumbs-1", source="thumbs_down", rating=1, timestamp=1764072000.5)

    assert (await post(client, NOTE)).status_code == 202
    assert (await post(client, epoch)).status_code == 202

    assert [e for e, _ in await feedback.stored()] == [decoded(NOTE), decoded(epoch)]


async def test_the_same_event_sent_twice_is_stored_once(
    client: AsyncTestClient, feedback: FeedbackStream
) -> None:
    first = await post(client, event())
    retry = await post(client, event())
    other = await post(client, event(event_id="another-event"))

    assert [a.status_code for a in (first, retry, other)] == [202, 202, 202]
    assert retry.json() == first.json()
    assert await feedback.count() == 2
    assert [e.event_id for e, _ in await feedback.stored()] == [event()["event_id"], "another-event"]


# ---------------------------------------------------------------- privacy


async def test_no_client_ip_or_user_agent_is_stored_by_default(
    client: AsyncTestClient, feedback: FeedbackStream
) -> None:
    forged = event(client_ip="203.0.113.9", user_agent="forged")

    answer = await post(client, forged, **{"User-Agent": "Mozilla/5.0 (X11; Linux)"})

    assert answer.status_code == 202
    [(stored, _)] = await feedback.stored()
    assert stored.client_ip is None
    assert stored.user_agent is None
    assert b"203.0.113.9" not in (await feedback.published())[0]


async def test_client_ip_and_user_agent_are_stored_when_enabled(
    settings: GatewaySettings, nats_server: NatsServer
) -> None:
    enabled = msgspec.structs.replace(settings, telemetry_store_client=True)
    async with AsyncTestClient(app=create_app(enabled)) as client:
        answer = await post(
            client, event(client_ip="203.0.113.9"), **{"User-Agent": "Mozilla/5.0 (X11; Linux)"}
        )
    assert answer.status_code == 202

    nc = await nats.connect(nats_server.url)
    stored = feedback_decoder.decode((await nc.jetstream().get_last_msg("FEEDBACK", TELEMETRY_FEEDBACK)).data)
    await nc.close()
    assert stored.client_ip == "testclient"  # the address the test client connects from, not the body's
    assert stored.user_agent == "Mozilla/5.0 (X11; Linux)"


# ---------------------------------------------------------------- rejected: nothing published


@pytest.mark.parametrize(
    ("body", "field"),
    [
        # wrong types
        (event(rating="5"), "rating"),
        (event(rating=True), "rating"),
        (event(rating=4.5), "rating"),
        (event(query=42), "query"),
        (event(doc_id=None), "doc_id"),
        (event(position="2"), "position"),
        (event(timestamp=None), "timestamp"),
        # missing fields
        (event(event_id=...), "event_id"),
        (event(query=...), "query"),
        (event(doc_id=...), "doc_id"),
        (event(rating=...), "rating"),
        (event(source=...), "source"),
        (event(timestamp=...), "timestamp"),
        # values out of range
        (event(rating=0), "rating"),
        (event(rating=6), "rating"),
        (event(position=0), "position"),
        (event(position=101), "position"),
        (event(query=""), "query"),
        (event(event_id=""), "event_id"),
        (event(event_id="has spaces"), "event_id"),
        (event(source="Thumbs Up"), "source"),
        (event(repo="../etc"), "repo"),
        (event(repo=".."), "repo"),
        (event(repo="sample\n"), "repo"),  # a pattern's "$" matches before a final newline
        (event(event_id="e1\n"), "event_id"),
        # doc ids whose path leaves the repository
        (event(doc_id="../../etc/passwd:1-2"), "doc_id"),
        (event(doc_id="src/../../secrets.py:1-2"), "doc_id"),
        (event(doc_id="/etc/passwd:1-2"), "doc_id"),
        (event(doc_id="src/a\x00.py:1-2"), "doc_id"),
        (event(doc_id="src/a\n.py:1-2"), "doc_id"),
        # oversized strings
        (event(query="x" * 2001), "query"),
        (event(doc_id="x" * 1001), "doc_id"),
        (event(event_id="e" * 65), "event_id"),
        (event(note="x" * 2001), "note"),
        # query_id that no search made
        (event(query_id="0123456789ABCDEF0123456789ABCDEF"), "query_id"),
        (event(query_id=QUERY_ID[:-1]), "query_id"),
        (event(query_id="q-7f3a"), "query_id"),
        # malformed timestamps
        (event(timestamp="yesterday"), "timestamp"),
        (event(timestamp="2026-13-01T00:00:00Z"), "timestamp"),
        (event(timestamp="2026-11-25T12:00:00"), "timestamp"),  # no time zone
        (event(timestamp=-5), "timestamp"),
        (event(timestamp=1e12), "timestamp"),
        # unknown fields
        (event(ratings=5), "ratings"),
        # rules across fields
        (event(doc_id=""), "doc_id"),
        ({**NOTE, "note": "   "}, "note"),
        ({key: value for key, value in NOTE.items() if key != "note"}, "note"),
        # not an event at all
        (b"", "body"),
        (b"rating=5", "body"),
        (b'{"event_id": "e1",', "body"),
        (b"[1, 2]", "body"),
        (b'"an event"', "body"),
    ],
)
async def test_rejects_an_invalid_event_naming_the_field_and_publishes_nothing(
    client: AsyncTestClient, feedback: FeedbackStream, body: dict[str, Any] | bytes, field: str
) -> None:
    answer = await post(client, body)

    assert answer.status_code == 400
    payload = answer.json()
    assert payload["status_code"] == 400
    assert payload["field"] == field
    assert payload["detail"].startswith(f"{field}: ")
    assert await feedback.published() == []
    assert await feedback.count() == 0


async def test_rejects_an_oversized_body_with_413_and_publishes_nothing(
    client: AsyncTestClient, feedback: FeedbackStream
) -> None:
    answer = await post(client, event(note="x" * MAX_EVENT_BYTES))

    assert answer.status_code == 413
    assert answer.json()["detail"] == (
        f"the body is over {MAX_EVENT_BYTES} bytes; a feedback event is a few hundred bytes"
    )
    assert await feedback.published() == []


async def test_the_longest_valid_event_fits_the_body_limit(
    client: AsyncTestClient, feedback: FeedbackStream
) -> None:
    widest = "\U0001f600"  # four bytes of UTF-8 per character
    longest = event(query=widest * 2000, doc_id="d" * 1000, note=widest * 2000, event_id="e" * 64)

    assert (await post(client, longest)).status_code == 202
    assert await feedback.count() == 1


# ---------------------------------------------------------------- nothing claimed when not stored


async def test_503_when_the_bus_is_down(client: AsyncTestClient, nats_server: NatsServer) -> None:
    nats_server.stop()
    feedback_client = client.app.state.feedback_client
    for _ in range(100):
        if not feedback_client.connected:
            break
        await asyncio.sleep(0.02)

    answer = await post(client, event())

    assert answer.status_code == 503
    assert answer.json()["field"] is None
    assert "message bus" in answer.json()["detail"]
    assert "codesift up" in answer.json()["detail"]


async def test_503_when_no_stream_stores_the_event(client: AsyncTestClient, feedback: FeedbackStream) -> None:
    await feedback.js.delete_stream("FEEDBACK")

    answer = await post(client, event())

    assert answer.status_code == 503
    assert answer.json()["detail"].startswith("the feedback was not stored")
    assert "send the same event again" in answer.json()["detail"]
