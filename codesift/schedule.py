"""`codesift status`'s lines on the continuous learning loop (the trainer's snapshot, shared/learning.py)."""

from __future__ import annotations

import time

from shared.learning import LearnSchedule


def schedule_lines(schedule: LearnSchedule | None, now: float | None = None) -> list[str]:
    if schedule is None:
        return ["learning: no trainer has reported its schedule yet"]
    if not schedule.enabled:
        return [
            "learning: manual (set CODESIFT_LEARN_AFTER_EVENTS and/or CODESIFT_LEARN_EVERY "
            "to run it by itself)"
        ]
    now = time.time() if now is None else now
    triggers = []
    if schedule.after_events:
        triggers.append(f"after {schedule.after_events} new feedback events")
    if schedule.every:
        triggers.append(f"every {schedule.every}")
    lines = [f"learning: {' or '.join(triggers)}; next run {schedule.next_run}"]
    last = "never"
    if schedule.last_run_at is not None:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(schedule.last_run_at))
        last = f"{when} ({schedule.last_run_id}: {schedule.last_outcome or 'running'})"
    lines.append(
        f"  {schedule.events_since_last} feedback events since the last run; last run {last}; "
        f"checked {max(0.0, now - schedule.checked_at):.0f} s ago"
    )
    return lines
