"""The feedback log on a disk that fails for real: a full tmpfs (ENOSPC), an immutable file (EPERM).

Both need root (mounting, chattr); elsewhere these tests are skipped, saying why.
"""

from __future__ import annotations

import errno
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.telemetry.log_writer import LogWriter
from tests.unit.telemetry.test_recording import StandInJoiner, msg, recorder


def line(event_id: str, pad: int = 0) -> tuple[str, bytes]:
    return event_id, json.dumps({"event_id": event_id, "query": "q" * pad}).encode() + b"\n"


def ids_in(path: Path) -> list[str]:
    return [json.loads(raw)["event_id"] for raw in path.read_bytes().splitlines()]


def fill(directory: Path, leave: int = 0) -> Path:
    """Write a filler file until the file system is full, then give `leave` bytes back."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"x" * 4096)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    if leave:
        size = filler.stat().st_size
        with filler.open("r+b") as f:
            f.truncate(max(0, size - leave))
    return filler


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: writes beyond it fail with ENOSPC, as on a full disk."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def immutable() -> Iterator:
    """chattr +i a file: every write to it fails (EPERM), even through a descriptor opened before."""
    marked: list[Path] = []

    def mark(path: Path, on: bool = True) -> None:
        done = subprocess.run(["chattr", "+i" if on else "-i", str(path)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"chattr does not work here: {done.stderr.strip()}")
        (marked.append if on else marked.remove)(path)

    yield mark
    for path in marked:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def test_a_full_disk_fails_the_whole_batch_and_the_same_batch_is_written_once_it_has_room(small_disk):
    path = small_disk / "queries.jsonl"
    writer = LogWriter(path, rotate_bytes=1 << 20, keep=2)
    writer.open()
    assert writer.append([line("a")]) == 1
    filler = fill(small_disk, leave=2048)  # room for part of the batch: a partial write happens
    batch = [line(f"b{i}", pad=500) for i in range(10)]
    with pytest.raises(OSError) as failed:
        writer.append(batch)
    assert failed.value.errno == errno.ENOSPC
    assert ids_in(path) == ["a"]  # nothing of the failed batch stays behind
    assert not writer.seen("b0")
    filler.unlink()
    assert writer.append(batch) == 10
    assert writer.append(batch) == 0
    writer.close()
    assert ids_in(path) == ["a"] + [f"b{i}" for i in range(10)]


def test_an_immutable_log_refuses_writes_and_takes_them_once_writable_again(tmp_path, immutable):
    path = tmp_path / "queries.jsonl"
    writer = LogWriter(path, rotate_bytes=1 << 20, keep=2)
    writer.open()
    writer.append([line("a")])
    immutable(path)
    with pytest.raises(OSError) as failed:
        writer.append([line("b"), line("c")])
    assert failed.value.errno == errno.EPERM
    immutable(path, on=False)
    assert writer.append([line("b"), line("c")]) == 2
    writer.close()
    assert ids_in(path) == ["a", "b", "c"]


async def test_the_recorder_holds_back_everything_and_names_the_cause_until_the_disk_recovers(small_disk):
    writer = LogWriter(small_disk / "queries.jsonl", rotate_bytes=1 << 20, keep=2)
    writer.open()
    rec = recorder(writer, StandInJoiner({}))
    assert rec.problems() == []
    filler = fill(small_disk)
    first = [msg(f"e{i}") for i in range(5)]
    report = await rec.record(first)
    assert (report.written, report.held) == (0, 5)
    assert all(m.settled == [("nak", 0.5)] for m in first)  # delivered again later, not acknowledged
    assert rec.problems() == ["log not writable: [Errno 28] No space left on device"]

    filler.unlink()
    again = [msg(f"e{i}", delivered=2) for i in range(5)]  # JetStream's redelivery
    report = await rec.record(again)
    assert (report.written, report.held) == (5, 0)
    assert all(m.settled == [("ack", None)] for m in again)
    assert rec.problems() == []
    writer.close()
    assert sorted(ids_in(writer.path)) == [f"e{i}" for i in range(5)]


def test_a_log_that_cannot_be_opened_is_opened_by_a_later_append_and_still_dedupes(tmp_path, immutable):
    path = tmp_path / "queries.jsonl"
    first = LogWriter(path, rotate_bytes=1 << 20, keep=2)
    first.open()
    first.append([line("a")])
    first.close()
    immutable(path)
    writer = LogWriter(path, rotate_bytes=1 << 20, keep=2)
    with pytest.raises(OSError) as failed:
        writer.open()  # a service starting on a read-only disk
    assert failed.value.errno == errno.EPERM
    with pytest.raises(OSError):
        writer.append([line("a"), line("b")])
    immutable(path, on=False)
    assert writer.append([line("a"), line("b")]) == 1  # "a" was logged before: not again
    writer.close()
    assert ids_in(path) == ["a", "b"]
