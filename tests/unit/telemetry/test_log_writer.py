import json
import os
from pathlib import Path

import pytest

from services.telemetry.log_writer import LogWriter, read_event_ids, repair_torn_line


def line(event_id: str, pad: int = 0) -> tuple[str, bytes]:
    return event_id, json.dumps({"event_id": event_id, "query": "q" * pad}).encode() + b"\n"


def ids_in(path: Path) -> list[str]:
    return [json.loads(raw)["event_id"] for raw in path.read_bytes().splitlines()]


def open_writer(path: Path, rotate_bytes: int = 1 << 20, keep: int = 3) -> LogWriter:
    writer = LogWriter(path, rotate_bytes=rotate_bytes, keep=keep)
    writer.open()
    return writer


def test_lines_are_appended_once_per_event_id(tmp_path):
    path = tmp_path / "logs" / "queries.jsonl"
    writer = open_writer(path)
    assert writer.append([line("a"), line("b"), line("a")]) == 2
    assert writer.append([line("b"), line("c")]) == 1
    writer.close()
    assert ids_in(path) == ["a", "b", "c"]
    assert path.read_bytes().endswith(b"\n")


def test_event_ids_are_remembered_across_a_restart(tmp_path):
    path = tmp_path / "queries.jsonl"
    writer = open_writer(path)
    writer.append([line("a"), line("b")])
    writer.close()

    again = open_writer(path)
    assert again.seen("a") and again.seen("b") and not again.seen("c")
    assert again.append([line("b"), line("c")]) == 1
    again.close()
    assert ids_in(path) == ["a", "b", "c"]


@pytest.mark.parametrize("tail", [b'{"event_id": "tor', b"{", b'{"event_id": "x", "query": "q"}'])
def test_a_torn_last_line_is_cut_on_open(tmp_path, tail):
    path = tmp_path / "queries.jsonl"
    whole = line("a")[1] + line("b")[1]
    path.write_bytes(whole + tail)  # a crash in the middle of a write: no newline after the tail

    writer = open_writer(path)
    assert path.read_bytes() == whole
    assert not writer.seen("x")
    writer.append([line("x")])
    writer.close()
    assert ids_in(path) == ["a", "b", "x"]


def test_repair_leaves_complete_files_alone_and_empties_a_file_without_newline(tmp_path):
    complete = tmp_path / "complete.jsonl"
    complete.write_bytes(line("a")[1])
    assert repair_torn_line(complete) == 0
    assert complete.read_bytes() == line("a")[1]

    lone = tmp_path / "lone.jsonl"
    lone.write_bytes(b'{"event_id": "a"' + b" " * 100_000)  # longer than one block read from the end
    assert repair_torn_line(lone) == 100_016
    assert lone.read_bytes() == b""
    assert repair_torn_line(tmp_path / "missing.jsonl") == 0


def test_unreadable_lines_are_skipped_when_loading_ids(tmp_path):
    path = tmp_path / "queries.jsonl"
    path.write_bytes(line("a")[1] + b"not json\n" + b'{"no_id": 1}\n' + line("b")[1])
    assert read_event_ids(path) == {"a", "b"}


def test_a_log_with_garbage_nested_too_deep_still_opens_and_keeps_every_id(tmp_path):
    """The telemetry service reads every id at start-up: a hand-edited or corrupt log must not stop it."""
    path = tmp_path / "queries.jsonl"
    deep = b'{"event_id": "x", "extra": ' + b"[" * 100_000 + b"\n"
    path.write_bytes(line("a")[1] + deep + b"[" * 100_000 + b"\n" + b"\xff\xfe\x00\n" + line("b")[1])
    writer = open_writer(path)
    assert writer.seen("a") and writer.seen("b")
    assert writer.append([line("b"), line("c")]) == 1
    writer.close()


def test_rotation_by_size_keeps_n_files_and_dedupe_covers_them(tmp_path):
    path = tmp_path / "queries.jsonl"
    writer = open_writer(path, rotate_bytes=4096, keep=2)
    for i in range(4):  # each batch fills most of a file: every new batch rotates
        assert writer.append([line(f"e{i}", pad=3000)]) == 1
    assert ids_in(path) == ["e3"]
    assert ids_in(writer.generation(1)) == ["e2"]
    assert ids_in(writer.generation(2)) == ["e1"]
    assert not writer.generation(3).exists()  # e0 rotated out
    assert writer.append([line("e2"), line("e1")]) == 0  # in rotated files: still duplicates
    writer.close()

    again = open_writer(path, rotate_bytes=4096, keep=2)
    assert again.append([line("e1"), line("e3")]) == 0  # remembered from rotated files after a restart
    assert again.append([line("e0")]) == 1  # dropped with its file: forgotten
    again.close()


def test_small_batches_share_a_file_until_it_would_outgrow_the_limit(tmp_path):
    path = tmp_path / "queries.jsonl"
    writer = open_writer(path, rotate_bytes=4096, keep=2)
    for i in range(40):  # ~130 bytes each: ~5,200 bytes in all, one rotation
        writer.append([line(f"e{i}", pad=100)])
    writer.close()
    rotated, current = ids_in(writer.generation(1)), ids_in(path)
    assert rotated + current == [f"e{i}" for i in range(40)]
    assert writer.generation(1).stat().st_size <= 4096
    assert writer.generation(1).stat().st_size + len(line("e", pad=100)[1]) > 4096  # filled, then rotated
    assert not writer.generation(2).exists()


def test_a_failed_write_leaves_no_partial_batch(tmp_path, monkeypatch):
    path = tmp_path / "queries.jsonl"
    writer = open_writer(path)
    writer.append([line("a")])
    real_write = os.write

    def short_then_fail(fd, data):
        if len(data) > 10:
            return real_write(fd, bytes(data[:10]))  # part of the batch reaches the file
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", short_then_fail)
    with pytest.raises(OSError):
        writer.append([line("b"), line("c")])
    monkeypatch.undo()

    assert ids_in(path) == ["a"]
    assert not writer.seen("b")
    assert writer.append([line("b")]) == 1
    writer.close()
    assert ids_in(path) == ["a", "b"]
