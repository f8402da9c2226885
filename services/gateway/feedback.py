"""Reading a feedback event from an HTTP body: every rejection names the field at fault."""

from __future__ import annotations

import datetime

import msgspec

from services.gateway.errors import InvalidParameter
from shared.schemas import FeedbackEvent, feedback_problem
from shared.validation import problem_from, whole_numbers

# The longest valid event is ~21 KB of UTF-8 (query and note of 2,000 four-byte characters each,
# a 1,000-character doc id): the limit leaves room for that and refuses anything much bigger.
MAX_EVENT_BYTES = 32 * 1024
MAX_USER_AGENT = 512  # characters kept of a User-Agent header, when storing it is enabled


def read_event(body: bytes) -> FeedbackEvent:
    """Decode and check one event; raise InvalidParameter naming the field (`body` when none is)."""
    try:  # decoded, whole numbers made ints (`"rating": 5.0` is a JSON Schema integer), then checked
        event = msgspec.convert(whole_numbers(msgspec.json.decode(body)), FeedbackEvent)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        problem = problem_from(exc)
        raise InvalidParameter(problem.field, problem.message) from None
    problem = feedback_problem(event)
    if problem is not None:
        raise InvalidParameter(problem.field, problem.message)
    if isinstance(event.timestamp, datetime.datetime) and event.timestamp.tzinfo is None:
        raise InvalidParameter("timestamp", "needs a time zone, e.g. 2026-11-25T12:00:00Z")
    return event


def with_client(event: FeedbackEvent, client_ip: str | None, user_agent: str | None) -> FeedbackEvent:
    """The event with the client fields the gateway decided on: whatever the client sent is replaced."""
    if user_agent is not None:
        user_agent = user_agent[:MAX_USER_AGENT]
    return msgspec.structs.replace(event, client_ip=client_ip, user_agent=user_agent)
