"""The continuous loop's decision: schedule + stored state + now + feedback count → run or not, next run."""

from __future__ import annotations

import pytest

from services.trainer.scheduling import PeriodError, Schedule, decide, next_run_words, parse_period
from services.trainer.settings import TrainerSettings, learn_schedule, learn_train_command
from shared.learning import LearnState
from shared.settings import SettingsError, from_env

T0 = 1_790_000_000.0
HOUR = 3600.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("90s", 90.0), ("15m", 900.0), ("6h", 21600.0), ("1.5h", 5400.0), ("1d", 86400.0),
     ("2w", 1_209_600.0), (" 6H ", 21600.0)],
)  # fmt: skip
def test_a_period_is_seconds_or_a_number_with_a_unit(text: str, seconds: float):
    assert parse_period(text) == seconds


def test_an_empty_period_means_no_periodic_trigger():
    assert parse_period("") is None and parse_period("  ") is None


@pytest.mark.parametrize("text", ["6 hours", "h", "-1h", "1y", "0", "0.5s", "1h30m"])
def test_anything_else_is_refused_with_the_form_it_must_have(text: str):
    with pytest.raises(PeriodError, match=r"is not a period|is shorter than"):
        parse_period(text)


def test_a_bad_setting_names_its_variable():
    bad = from_env(TrainerSettings, {"CODESIFT_LEARN_EVERY": "6 hours"})
    with pytest.raises(SettingsError, match=r"^CODESIFT_LEARN_EVERY='6 hours': '6 hours' is not a period"):
        learn_schedule(bad)
    bad = from_env(TrainerSettings, {"CODESIFT_LEARN_TRAIN_OPTIONS": '{"epochs": 0}'})
    with pytest.raises(SettingsError, match=r"^CODESIFT_LEARN_TRAIN_OPTIONS=.*>= 1 - at `\$.epochs`"):
        learn_train_command(bad, "learn-e5-train")
    bad = from_env(TrainerSettings, {"CODESIFT_LEARN_TRAIN_OPTIONS": '{"job_id": "x"}'})
    with pytest.raises(SettingsError, match="job_id and type are set by the loop"):
        learn_train_command(bad, "learn-e5-train")


def test_train_options_override_the_trainer_defaults():
    ok = from_env(
        TrainerSettings, {"CODESIFT_LEARN_TRAIN_OPTIONS": '{"time_budget_s": 20, "min_triplets": 5}'}
    )
    command = learn_train_command(ok, "learn-e5-train")
    assert (command.job_id, command.time_budget_s, command.min_triplets, command.epochs) == (
        "learn-e5-train", 20.0, 5, 1,
    )  # fmt: skip


def test_off_never_runs_and_has_no_next_run():
    d = decide(Schedule(), LearnState(anchor=T0), T0 + 100 * HOUR, 1000, None)
    assert not d.run and (d.events_needed, d.next_run_at) == (None, None)
    assert next_run_words(d, None) == "off"


def test_the_event_trigger_fires_at_n_new_events_and_names_its_slot():
    schedule = Schedule(after_events=5)
    state = LearnState(anchor=T0)
    waiting = decide(schedule, state, T0, 4, None)
    assert (waiting.run, waiting.events_needed, waiting.events_since_last) == (False, 1, 4)
    assert next_run_words(waiting, None) == "after 1 more events"
    due = decide(schedule, state, T0, 5, None)
    assert (due.run, due.run_id) == (True, "learn-e5")


def test_after_a_run_the_next_waits_for_n_more_events_than_it_began_at():
    schedule = Schedule(after_events=5)
    after = LearnState(anchor=T0, last_run_at=T0 + 10, last_run_events=7)  # 2 events came in meanwhile
    assert decide(schedule, after, T0 + 20, 11, None).events_needed == 1
    assert not decide(schedule, after, T0 + 20, 11, None).run
    assert decide(schedule, after, T0 + 20, 12, None).run_id == "learn-e12"


def test_a_count_below_the_last_runs_means_the_stream_was_recreated_and_counts_from_zero():
    after = LearnState(anchor=T0, last_run_at=T0, last_run_events=100)
    d = decide(Schedule(after_events=5), after, T0, 3, None)
    assert (d.events_since_last, d.events_needed, d.run) == (3, 2, False)


def test_the_period_counts_from_the_anchor_then_from_the_last_run():
    schedule = Schedule(every_s=6 * HOUR)
    fresh = LearnState(anchor=T0)
    assert not decide(schedule, fresh, T0 + 6 * HOUR - 1, 0, None).run
    due = decide(schedule, fresh, T0 + 6 * HOUR, 0, None)
    assert (due.run, due.run_id, due.next_run_at) == (True, f"learn-t{int(T0 + 6 * HOUR)}", T0 + 6 * HOUR)
    ran = LearnState(anchor=T0, last_run_at=T0 + 7 * HOUR)
    later = decide(schedule, ran, T0 + 8 * HOUR, 0, None)
    assert (later.run, later.next_run_at) == (False, T0 + 13 * HOUR)
    assert next_run_words(later, None) == "at 2026-09-22T03:13:20Z"


def test_missed_periods_start_one_run_not_one_per_slot():
    d = decide(Schedule(every_s=HOUR), LearnState(anchor=T0), T0 + 10 * HOUR, 0, None)
    assert d.run and d.run_id == f"learn-t{int(T0 + HOUR)}"


def test_either_trigger_starts_a_run_and_the_next_run_names_both():
    schedule = Schedule(after_events=5, every_s=HOUR)
    state = LearnState(anchor=T0)
    assert decide(schedule, state, T0 + 60, 5, None).run_id == "learn-e5"
    assert decide(schedule, state, T0 + HOUR, 1, None).run_id == f"learn-t{int(T0 + HOUR)}"
    waiting = decide(schedule, state, T0 + 60, 2, None)
    assert next_run_words(waiting, None) == "after 3 more events or at 2026-09-21T15:13:20Z"


def test_nothing_starts_while_a_trainer_job_runs_and_it_starts_once_that_ends():
    schedule = Schedule(after_events=5)
    state = LearnState(anchor=T0)
    busy = decide(schedule, state, T0, 9, "train-20261204-010000-abcd1234")
    assert not busy.run and "train-20261204-010000-abcd1234 is running" in busy.reason
    assert decide(schedule, state, T0 + 1, 9, None).run_id == "learn-e9"


def test_the_same_state_gives_every_trainer_the_same_run_id():
    schedule, state = Schedule(after_events=5, every_s=HOUR), LearnState(anchor=T0, last_run_events=3)
    assert {decide(schedule, state, T0 + s, 8, None).run_id for s in (1, 2, 30)} == {"learn-e8"}


def test_a_run_in_progress_is_shown_as_running():
    d = decide(Schedule(after_events=5), LearnState(anchor=T0), T0, 0, "learn-e5-mine")
    assert next_run_words(d, "learn-e5-mine") == "running (learn-e5-mine)"
