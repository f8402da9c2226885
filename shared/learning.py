"""The continuous learning loop's durable state: KV `learning`, written by the trainer's scheduler.

- "state" (LearnState): when the last automatic run began, the feedback count it began at, and the
  run in progress (its mine, then its train job). Changed by compare-and-set on its revision only,
  so of several trainers exactly one claims a run.
- "schedule" (LearnSchedule): what the scheduler last saw and when it runs next; the gateway
  (GET /api/reranker/schedule) and `codesift status` show it.

The feedback count is the telemetry's durable consumer on FEEDBACK: the stream sequence up to which
every event is acknowledged, i.e. written to the log (or found a duplicate, or dead-lettered). It
survives restarts of every process and never counts an event the log does not hold yet.
"""

from __future__ import annotations

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, NotFoundError

from shared.streams import Buckets

STATE_KEY = "state"
SCHEDULE_KEY = "schedule"
FEEDBACK_STREAM = "FEEDBACK"
TELEMETRY_CONSUMER = "telemetry"  # the telemetry service's durable consumer (services/telemetry/handlers.py)


class LearnRun(msgspec.Struct, omit_defaults=True):
    """The automatic run in progress: its id (from its schedule slot) and the job it waits for."""

    run_id: str
    phase: str  # mine | train
    job_id: str
    submitted_at: float
    reason: str = ""


class LearnState(msgspec.Struct, omit_defaults=True):
    anchor: float  # when the scheduler first ran with this store: a period counts from here until a run
    last_run_at: float | None = None
    last_run_events: int = 0  # the feedback count when the last run began
    last_run_id: str = ""
    last_outcome: str = ""  # "succeeded", or why the last run failed
    runs: int = 0
    run: LearnRun | None = None


class LearnSchedule(msgspec.Struct):
    """What GET /api/reranker/schedule answers."""

    enabled: bool
    after_events: int | None  # None: no event trigger
    every: str | None  # the period as configured ("6h"); None: no periodic trigger
    every_s: float | None
    events_total: int  # feedback events stored so far
    events_since_last: int
    last_run_at: float | None
    last_run_id: str
    last_outcome: str
    next_run_at: float | None  # the periodic trigger's next time
    events_needed: int | None  # more events before the event trigger fires
    next_run: str  # in words: "after 3 more events", "at 2026-12-04T06:00:00Z", "running", "off"
    running: str | None  # the job id of the automatic run in progress
    checked_at: float


state_decoder = msgspec.json.Decoder(LearnState)
schedule_decoder = msgspec.json.Decoder(LearnSchedule)


async def feedback_count(js: JetStreamContext) -> int:
    """Feedback events the telemetry has stored (0 before its consumer exists)."""
    try:
        info = await js.consumer_info(FEEDBACK_STREAM, TELEMETRY_CONSUMER)
    except NotFoundError:
        return 0
    return int(info.ack_floor.stream_seq or 0) if info.ack_floor else 0


async def read_state(js: JetStreamContext) -> tuple[LearnState | None, int]:
    """The loop's state and its revision (0: never written)."""
    kv = await js.key_value(Buckets.LEARNING)
    try:
        entry = await kv.get(STATE_KEY)
    except KeyNotFoundError:
        return None, 0
    if not entry.value:
        return None, entry.revision or 0
    return state_decoder.decode(entry.value), entry.revision or 0


async def read_schedule(js: JetStreamContext) -> LearnSchedule | None:
    """The scheduler's last snapshot; None when no trainer has written one."""
    kv = await js.key_value(Buckets.LEARNING)
    try:
        entry = await kv.get(SCHEDULE_KEY)
    except KeyNotFoundError:
        return None
    return schedule_decoder.decode(entry.value) if entry.value else None
