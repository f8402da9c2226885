"""What the gateway keeps of the client that sent an event."""

from __future__ import annotations

from services.gateway.feedback import MAX_USER_AGENT, with_client
from shared.schemas import FeedbackEvent


def test_with_client_replaces_what_the_client_claimed_and_caps_the_user_agent() -> None:
    event = FeedbackEvent(
        "e1", "token", "a.py:1-2", 5, "click", 1764072000.0, client_ip="203.0.113.9", user_agent="forged"
    )

    kept = with_client(event, "192.0.2.1", "x" * 5000)
    dropped = with_client(event, None, None)

    assert (kept.client_ip, kept.user_agent) == ("192.0.2.1", "x" * MAX_USER_AGENT)
    assert (dropped.client_ip, dropped.user_agent) == (None, None)
    assert dropped.event_id == event.event_id and dropped.timestamp == event.timestamp
