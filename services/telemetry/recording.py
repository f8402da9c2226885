"""From a batch of feedback messages to durable log lines: validate, dedupe, join, write, then ack."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass

import msgspec
import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from services.telemetry import instruments
from services.telemetry.crediting import credit_clicks
from services.telemetry.dead_letters import send_to_dead_letters
from services.telemetry.joining import ImpressionJoiner
from services.telemetry.log_line import build_line, received_timestamp
from services.telemetry.log_writer import LogWriter
from shared.schemas import FeedbackEvent, Impression, feedback_decoder, feedback_problem
from shared.validation import decode

log = logging.getLogger("codesift.telemetry")


@dataclass
class BatchReport:
    written: int = 0  # new lines in the log
    duplicates: int = 0  # events already in the log: acknowledged only
    held: int = 0  # impression not found yet or log not writable: delivered again later
    dead: int = 0  # poison: sent to the dead letters


@dataclass
class _Accepted:
    msg: Msg
    event: FeedbackEvent
    timestamp: msgspec.Raw


def parse(body: bytes) -> tuple[FeedbackEvent, msgspec.Raw] | str:
    """The event and its timestamp as received, or why the body is refused ("field: message")."""
    event, problem = decode(feedback_decoder, body)
    if problem is None and event is not None:
        problem = feedback_problem(event)
    if problem is not None or event is None:
        return f"{problem.field}: {problem.message}" if problem else "body: empty"
    return event, received_timestamp(body)


class FeedbackRecorder:
    """Records batches of FEEDBACK messages in the log, each event once.

    Batches are recorded one at a time (the pull subscriber awaits each). An event naming a
    query id whose impression is not found yet is delivered again after `retry_delay` seconds,
    up to its `join_attempts`-th delivery; then it is written unjoined (`"joined": false`).
    When the log cannot be written (disk full, read-only), nothing of the batch is acknowledged:
    it is delivered again after `retry_delay` seconds, until a write succeeds.
    """

    def __init__(
        self,
        writer: LogWriter,
        joiner: ImpressionJoiner,
        js: JetStreamContext,
        *,
        join_attempts: int,
        retry_delay: float,
    ):
        self.writer = writer
        self.joiner = joiner
        self.js = js
        self.join_attempts = join_attempts
        self.retry_delay = retry_delay
        self.log_problem: str | None = None  # why the last write failed, until a write succeeds

    def problems(self) -> list[str]:
        """What /api/health reports for this service (through SERVICE_PING)."""
        return [] if self.log_problem is None else [self.log_problem]

    async def record(self, messages: Sequence[Msg]) -> BatchReport:
        report = BatchReport()
        fresh: list[_Accepted] = []
        known: list[Msg] = []
        poison: list[tuple[Msg, str]] = []
        for msg in messages:
            parsed = parse(msg.data)
            if isinstance(parsed, str):
                poison.append((msg, parsed))
            elif self.writer.seen(parsed[0].event_id):
                known.append(msg)
            else:
                fresh.append(_Accepted(msg, *parsed))

        lookup = await self.joiner.find_many(a.event.query_id for a in fresh if a.event.query_id)
        lines: list[tuple[str, bytes]] = []
        to_ack: list[Msg] = []
        held: list[Msg] = []
        joined: list[tuple[FeedbackEvent, Impression | None]] = []
        for item in fresh:
            query_id = item.event.query_id
            impression = lookup.found.get(query_id) if query_id else None
            if (
                query_id
                and impression is None
                and (query_id in lookup.unavailable or item.msg.metadata.num_delivered < self.join_attempts)
            ):
                held.append(item.msg)
                continue
            lines.append((item.event.event_id, build_line(item.event, item.timestamp, impression)))
            to_ack.append(item.msg)
            joined.append((item.event, impression))

        try:  # online experiments first: crediting is idempotent, a line once written is not re-read
            await credit_clicks(self.js, joined)
        except (nats.errors.Error, TimeoutError) as exc:
            log.warning(
                "clicks not credited (%s); %d events held back", exc or type(exc).__name__, len(lines)
            )
            held += to_ack
            lines, to_ack = [], []
        try:
            report.written = await asyncio.to_thread(self.writer.append, lines)
        except OSError as exc:
            if self.log_problem is None:
                log.error("cannot write %s: %s; events are held back until it can", self.writer.path, exc)
            self.log_problem = f"log not writable: {exc}"
            held += to_ack
            to_ack = []
        else:
            if lines and self.log_problem is not None:
                log.warning("%s is writable again (%d events written)", self.writer.path, report.written)
                self.log_problem = None
        report.duplicates = len(known) + len(to_ack) - report.written
        report.held = len(held)
        if report.written:
            pairs = zip(lines, to_ack, strict=True)
            observe_lag({event_id: msg for (event_id, _), msg in reversed(list(pairs))})

        for msg in known + to_ack:
            await _settle(msg.ack())
        for msg in held:
            await _settle(msg.nak(delay=self.retry_delay))
        for msg, reason in poison:
            log.warning("dead letter (stream sequence %d): %s", msg.metadata.sequence.stream, reason)
            try:
                await send_to_dead_letters(self.js, msg, reason)
                report.dead += 1
            except (nats.errors.Error, TimeoutError) as exc:
                log.warning("dead letter not stored (%s); it comes back later", exc or type(exc).__name__)
        count(report, messages)
        return report


def observe_lag(written: dict[str, Msg]) -> None:
    """Seconds from JetStream storing each event's message (its metadata timestamp) to now."""
    now = time.time()
    for msg in written.values():
        instruments.LAG.observe(max(0.0, now - msg.metadata.timestamp.timestamp()))


def count(report: BatchReport, messages: Sequence[Msg]) -> None:
    instruments.STORED.inc(report.written)
    instruments.DUPLICATES.inc(report.duplicates)
    instruments.HELD.inc(report.held)
    instruments.DEAD_LETTERED.inc(report.dead)
    if messages:
        instruments.PENDING.set(messages[-1].metadata.num_pending)


async def _settle(acknowledgement: Awaitable[None]) -> None:
    """Send an ack or nak; one lost while the server restarts means a redelivery, which dedupe absorbs."""
    try:
        await acknowledgement
    except nats.errors.Error as exc:
        log.warning("acknowledgement lost: %s", exc or type(exc).__name__)
