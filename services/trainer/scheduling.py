"""When the continuous loop runs: a pure decision from the schedule, the stored state and now.

Two triggers, either of which starts a run (mine, then train; evaluation and gated promotion follow
by themselves): `after_events` new feedback events stored since the last run began, and `every`
seconds since it began (since the scheduler first started, before any run). Nothing starts while
a trainer job or an earlier automatic run is still going; a trigger that fires meanwhile starts a
run once they end (one run, however many slots were missed).

A run's id names its slot: `learn-e<count>` for the event trigger (the feedback count it fired
at) and `learn-t<unix time>` for the period (the due time), so two trainers deciding on the same
state derive the same id, and the bus's message dedupe stores its commands once.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from shared.learning import LearnState

_PERIOD = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT_S = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}
MIN_PERIOD_S = 1.0


class PeriodError(ValueError):
    """A period that is not <number>[s|m|h|d|w] of at least one second."""


def parse_period(text: str) -> float | None:
    """Seconds of a period: "90", "90s", "15m", "6h", "1d", "2w"; empty: None (no periodic trigger)."""
    if not text.strip():
        return None
    match = _PERIOD.match(text.lower())
    if match is None:
        raise PeriodError(
            f"{text!r} is not a period: write seconds or a number with s, m, h, d or w (e.g. 6h)"
        )
    seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if seconds < MIN_PERIOD_S:
        raise PeriodError(f"{text!r} is shorter than {MIN_PERIOD_S:g} s")
    return seconds


@dataclass(frozen=True)
class Schedule:
    after_events: int | None = None  # None or 0: no event trigger
    every_s: float | None = None  # None: no periodic trigger

    @property
    def enabled(self) -> bool:
        return bool(self.after_events) or self.every_s is not None


@dataclass(frozen=True)
class Decision:
    run: bool
    run_id: str  # the slot's id when `run`, else ""
    reason: str  # why it runs, or why not
    events_since_last: int
    events_needed: int | None  # None: no event trigger
    next_run_at: float | None  # None: no periodic trigger


def events_since(state: LearnState, events_total: int) -> int:
    """New events since the last run began; a count below it (the stream was recreated) starts over."""
    if events_total < state.last_run_events:
        return events_total
    return events_total - state.last_run_events


def decide(
    schedule: Schedule, state: LearnState, now: float, events_total: int, busy: str | None
) -> Decision:
    """Run now or not, and when next. busy: the trainer job or automatic run going on (None: idle)."""
    since = events_since(state, events_total)
    needed = max(0, schedule.after_events - since) if schedule.after_events else None
    due = None
    if schedule.every_s is not None:
        due = (state.last_run_at if state.last_run_at is not None else state.anchor) + schedule.every_s
    if not schedule.enabled:
        return Decision(
            False,
            "",
            "off: neither CODESIFT_LEARN_AFTER_EVENTS nor CODESIFT_LEARN_EVERY is set",
            since,
            None,
            None,
        )
    run_id, reason = "", ""
    if needed == 0:
        run_id = f"learn-e{events_total}"
        reason = f"{since} new feedback events (after {schedule.after_events})"
    elif due is not None and now >= due:
        run_id = f"learn-t{int(due)}"
        reason = f"the period of {schedule.every_s:g} s has passed"
    if not run_id:
        return Decision(False, "", "not due", since, needed, due)
    if busy is not None:
        return Decision(False, "", f"due ({reason}) but {busy} is running", since, needed, due)
    return Decision(True, run_id, reason, since, needed, due)


def next_run_words(decision: Decision, running: str | None) -> str:
    """The next run in words, for the page and the CLI."""
    if running is not None:
        return f"running ({running})"
    if decision.events_needed is None and decision.next_run_at is None:
        return "off"
    if decision.run or decision.events_needed == 0:
        return "now"
    parts = []
    if decision.events_needed is not None:
        parts.append(f"after {decision.events_needed} more events")
    if decision.next_run_at is not None:
        when = datetime.datetime.fromtimestamp(decision.next_run_at, datetime.UTC)
        parts.append("at " + when.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return " or ".join(parts)
