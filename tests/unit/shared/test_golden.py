"""Golden files and the split the trainer and the evaluator share."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.trainer.mining import text
from services.trainer.mining.firewall import split_golden as trainer_split
from shared.golden import GoldenError, normalise, read_golden, split_golden, stable_hash

SAMPLE = Path(__file__).parents[2] / "fixtures" / "sample_golden.json"


def test_the_trainer_splits_with_the_shared_rule():
    assert trainer_split is split_golden
    assert text.normalise is normalise and text.stable_hash is stable_hash


def test_reads_a_golden_file_and_splits_it_stably():
    questions = read_golden(SAMPLE)
    assert len(questions) == 8 and questions[0].expect_paths == ["acme/auth/tokens.py"]
    train, held_out = split_golden(questions)
    assert [q.q for q in held_out] == ["how is an invoice total computed with tax"]  # pinned
    assert split_golden(reversed(questions)) == (train[::-1], held_out[::-1])


def test_unreadable_golden_files_raise_golden_error(tmp_path: Path):
    with pytest.raises(GoldenError, match="cannot read"):
        read_golden(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('[{"q": "x", "repo": "r", "expect_paths": []}]')
    with pytest.raises(GoldenError, match="expect_paths"):
        read_golden(bad)
