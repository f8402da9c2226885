"""A mine command's golden path is checked before anything is read or mined."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.trainer.mine_job import MineError, run_mine
from services.trainer.settings import TrainerSettings
from shared.schemas import MineCommand


@pytest.mark.parametrize(
    ("golden", "reason"),
    [
        ("/dev/zero", "/dev/zero is not a regular file"),  # reading it would never end
        ("../../golden.json", "climbs out of the working directory with '..'"),
        ("golden\x00.json", "contains a NUL byte"),
        ("{tmp}/pipe", "pipe is not a regular file"),
        ("{tmp}/missing.json", "no such file"),
    ],
)
def test_a_golden_path_that_names_no_golden_file_fails_the_job_naming_golden(tmp_path: Path, golden, reason):
    os.mkfifo(tmp_path / "pipe")
    settings = TrainerSettings(data_dir=tmp_path / "data")
    command = MineCommand(job_id="mine-1", source="golden", golden=golden.format(tmp=tmp_path))
    with pytest.raises(MineError, match=r"^golden: ") as caught:
        run_mine(command, settings, source=None, progress=lambda fraction, message: None)  # type: ignore[arg-type]
    assert reason in str(caught.value)
    assert not (tmp_path / "data").exists()  # nothing mined, nothing written
