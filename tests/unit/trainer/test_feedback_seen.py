"""The feedback events a log mining read, kept with its triplets for the train job's manifest."""

from __future__ import annotations

from pathlib import Path

from services.trainer.mine_job import FEEDBACK_SEEN, feedback_seen, write_feedback_seen


def test_the_count_of_the_last_log_mining_is_read_back(tmp_path: Path):
    training = tmp_path / "training"
    assert feedback_seen(training) == 0  # logs never mined
    write_feedback_seen(training, 12)
    write_feedback_seen(training, 17)  # a later mining replaces it, as it replaces the log triplets
    assert feedback_seen(training) == 17
    assert [p.name for p in training.iterdir()] == [FEEDBACK_SEEN]  # no partial file left


def test_an_unreadable_record_counts_as_none(tmp_path: Path):
    (tmp_path / FEEDBACK_SEEN).write_text("{not json")
    assert feedback_seen(tmp_path) == 0
