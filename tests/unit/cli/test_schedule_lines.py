"""`codesift status`'s lines on the continuous learning loop."""

from __future__ import annotations

import time

from codesift.schedule import schedule_lines
from shared.learning import LearnSchedule

NOW = 1_790_000_000.0


def snapshot(**changes: object) -> LearnSchedule:
    base = dict(
        enabled=True, after_events=5, every="6h", every_s=21600.0, events_total=12, events_since_last=3,
        last_run_at=NOW - 60, last_run_id="learn-e9", last_outcome="succeeded", next_run_at=NOW + 3600,
        events_needed=2, next_run="after 2 more events or at 2026-09-21T15:13:20Z", running=None,
        checked_at=NOW - 4,
    )  # fmt: skip
    return LearnSchedule(**(base | changes))  # type: ignore[arg-type]


def test_the_triggers_the_next_run_and_the_last_run_are_shown():
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(NOW - 60))
    assert schedule_lines(snapshot(), now=NOW) == [
        "learning: after 5 new feedback events or every 6h; "
        "next run after 2 more events or at 2026-09-21T15:13:20Z",
        f"  3 feedback events since the last run; last run {when} (learn-e9: succeeded); checked 4 s ago",
    ]


def test_a_run_in_progress_and_a_loop_never_run():
    lines = schedule_lines(
        snapshot(every=None, last_run_at=None, next_run="running (learn-e5-mine)", running="learn-e5-mine"),
        now=NOW,
    )
    assert lines[0] == "learning: after 5 new feedback events; next run running (learn-e5-mine)"
    assert "last run never" in lines[1]


def test_off_and_unknown_say_how_to_turn_it_on():
    assert schedule_lines(snapshot(enabled=False)) == [
        "learning: manual (set CODESIFT_LEARN_AFTER_EVENTS and/or CODESIFT_LEARN_EVERY to run it by itself)"
    ]
    assert schedule_lines(None) == ["learning: no trainer has reported its schedule yet"]
