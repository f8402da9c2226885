"""Refused messages, kept with why: the reason header, and the dead-letter subject of commands.

A reason quotes what was refused (msgspec names an invalid tag value, for instance), so it is made
one line of printable ASCII before it goes into a header: a line break would end the header, and
nats-py reads non-ASCII header values back as `email.header.Header` objects, not text.
"""

from __future__ import annotations

from nats.aio.client import Client

from shared import subjects

REASON = "Codesift-Reason"
MAX_REASON = 500


def header_value(text: str) -> str:
    """One line of printable ASCII (anything else escaped, `\\u00e9`), at most MAX_REASON characters."""
    flat = " ".join(text.split())
    return "".join(c if " " <= c <= "~" else ascii(c)[1:-1] for c in flat)[:MAX_REASON]


async def dead_letter_command(nc: Client, body: bytes, reason: str) -> None:
    """Keep a refused command, with its reason, on codesift.cmd.dead (stored in COMMANDS)."""
    await nc.publish(subjects.CMD_DEAD_LETTER, body, headers={REASON: header_value(reason)})
