"""Poison feedback messages go to the DEADLETTER stream with the reason, instead of blocking FEEDBACK."""

from __future__ import annotations

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from shared import subjects
from shared.dead_letters import REASON, header_value

__all__ = ["REASON", "header_value", "send_to_dead_letters"]
ORIGINAL_SUBJECT = "Codesift-Subject"
ORIGINAL_SEQUENCE = "Codesift-Sequence"


async def send_to_dead_letters(js: JetStreamContext, msg: Msg, reason: str) -> None:
    """Store the message's body with why it was refused, then terminate it on its stream.

    The original's stream sequence is the dead letter's message id: refusing a redelivered
    copy again (within the duplicate window) stores one dead letter.
    """
    sequence = str(msg.metadata.sequence.stream)
    await js.publish(
        subjects.TELEMETRY_DEAD_LETTER,
        msg.data,
        headers={
            REASON: header_value(reason),
            ORIGINAL_SUBJECT: msg.subject,
            ORIGINAL_SEQUENCE: sequence,
            "Nats-Msg-Id": f"{msg.metadata.stream}:{sequence}",
        },
    )
    await msg.term()
