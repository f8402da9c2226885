"""POST /api/telemetry/event: a click, thumbs up/down or note in, durably stored before 202."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, post
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Operation

from services.gateway import instruments
from services.gateway.auth import READ
from services.gateway.errors import ErrorBody, TooLarge
from services.gateway.feedback import MAX_EVENT_BYTES, read_event
from services.gateway.feedback_client import FeedbackClient
from shared.schemas import FeedbackAccepted, FeedbackEvent


def _body_schema() -> dict[str, Any]:
    """FeedbackEvent's JSON Schema as clients send it: client_ip and user_agent are the gateway's."""
    _, components = msgspec.json.schema_components([FeedbackEvent])
    schema: dict[str, Any] = components["FeedbackEvent"]
    for gateway_only in ("client_ip", "user_agent"):
        del schema["properties"][gateway_only]
    # msgspec documents a datetime as a plain string; the gateway takes RFC 3339 date-times only
    for option in schema["properties"]["timestamp"]["anyOf"]:
        if option.get("type") == "string":
            option["format"] = "date-time"
    return schema


class FeedbackOperation(Operation):
    """The operation with its request body documented (the handler reads the raw body itself, so
    that every rejection names the field, and Litestar cannot infer the body from its signature)."""

    def to_schema(self) -> dict[str, Any]:
        schema = super().to_schema()
        json_body = {"application/json": {"schema": _body_schema()}}
        schema["requestBody"] = {"required": True, "content": json_body}
        return schema


class TelemetryController(Controller):
    """Feedback on search results, the signal the reranker learns from."""

    path = "/api/telemetry"
    tags = ["telemetry"]
    opt = READ

    @post(
        "/event",
        operation_id="telemetryEvent",
        summary="Record feedback",
        status_code=202,
        request_max_body_size=MAX_EVENT_BYTES,
        operation_class=FeedbackOperation,
        responses={
            400: ResponseSpec(ErrorBody, description="The event is invalid; `field` names what is wrong."),
            413: ResponseSpec(ErrorBody, description=f"The body is over {MAX_EVENT_BYTES} bytes."),
            503: ResponseSpec(ErrorBody, description="Not stored (bus down, no acknowledgement): retry."),
        },
    )
    async def event(self, request: Request, feedback_client: FeedbackClient) -> FeedbackAccepted:
        """Store one feedback event in JetStream; 202 means it is durable.

        The body is a JSON object: `event_id` (your unique id, 1-64 of `A-Za-z0-9_.:-`), `query`,
        `doc_id` (`path:start-end` of the result), `rating` (1-5: 5 = click or thumbs up,
        1 = thumbs down), `source` (`click`, `thumbs_up`, `thumbs_down`, `note`, ...), `timestamp`
        (RFC 3339 with a time zone, or seconds since the epoch), and optionally `query_id` (from the
        search response), `position` (1-based rank shown), `repo` and `note` (a note has source
        `note`, an empty `doc_id` and the text). Sending the same `event_id` again stores it once.
        Nothing is stored on a 400; on a 503 send the same event again.
        """
        try:
            body = await request.body()
        except RequestEntityTooLarge:
            raise TooLarge(
                f"the body is over {MAX_EVENT_BYTES} bytes; a feedback event is a few hundred bytes"
            ) from None
        event = read_event(body)
        await feedback_client.publish(
            event,
            client_ip=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
        )
        instruments.FEEDBACK_ACCEPTED.inc()
        return FeedbackAccepted(event_id=event.event_id)
