"""Poison feedback messages go to the DEADLETTER stream with the reason, instead of blocking FEEDBACK."""

from __future__ import annotations

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from shared import subjects

REASON = "Codesift-Reason"
ORIGINAL_SUBJECT = "Codesift-Subject"
ORIGINAL_SEQUENCE = "Codesift-Sequence"
MAX_REASON = 500


def header_value(text: str) -> str:
    """One line of printable text that fits in a NATS header."""
    flat = " ".join(text.split())
    return "".join(c if c.isprintable() else "?" for c in flat)[:MAX_REASON]


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
