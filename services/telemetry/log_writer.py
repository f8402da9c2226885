"""queries.jsonl: appended in batches, fsync'ed before anything is acknowledged, one line per event id.

After a crash the last line may be torn and the last batch may be on disk without having been
acknowledged: `open()` cuts the torn tail off and remembers every event id already written (in
the current file and the rotated ones), so the redelivered events are acknowledged, not written
again. Rotation by size: queries.jsonl -> queries.jsonl.1 -> ... -> queries.jsonl.<keep>.
A write that fails (disk full, file or file system read-only) leaves nothing of its batch behind,
so the same events can be written again once the disk recovers.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path

import msgspec

log = logging.getLogger("codesift.telemetry")

_TAIL_BLOCK = 64 * 1024


class _EventId(msgspec.Struct):
    event_id: str


_id_decoder = msgspec.json.Decoder(_EventId)


def repair_torn_line(path: Path) -> int:
    """Cut `path` back to its last complete line; return the number of bytes removed."""
    if not path.exists():
        return 0
    with path.open("r+b") as f:
        size = f.seek(0, os.SEEK_END)
        end = size
        while end > 0:
            start = max(0, end - _TAIL_BLOCK)
            f.seek(start)
            block = f.read(end - start)
            if end == size and block.endswith(b"\n"):
                return 0
            newline = block.rfind(b"\n")
            if newline >= 0:
                end = start + newline + 1
                break
            end = start
        f.truncate(end)
        f.flush()
        os.fsync(f.fileno())
    return size - end


def read_event_ids(path: Path) -> set[str]:
    """Every event id in a log file (none when it does not exist); unreadable lines are skipped."""
    if not path.exists():
        return set()
    data = path.read_bytes()
    try:
        return {line.event_id for line in _id_decoder.decode_lines(data)}
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):  # garbage: line by line
        pass
    ids: set[str] = set()
    bad = 0
    for raw in data.splitlines():
        try:
            ids.add(_id_decoder.decode(raw).event_id)
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):  # nested too deep
            bad += 1
    log.warning("%s: %d unreadable lines skipped", path, bad)
    return ids


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LogWriter:
    """Appends event lines to a JSON-lines file durably and at most once per event id.

    `append` blocks (write + fsync): call it from a worker thread. Calls are serialised.
    """

    def __init__(self, path: Path, *, rotate_bytes: int, keep: int):
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self.path = path
        self.rotate_bytes = rotate_bytes
        self.keep = keep
        self._ids: list[set[str]] = []  # event ids per file: [current, .1, ..., .keep]
        self._fd: int | None = None
        self._size = 0
        self._torn = False  # a failed batch may be partly in the file beyond `_size`
        self._wanted = False  # open() was called (and close() not yet)
        self._lock = threading.Lock()

    def generation(self, i: int) -> Path:
        """The current file (0) or the i-th rotated one."""
        return self.path if i == 0 else self.path.with_name(f"{self.path.name}.{i}")

    def open(self) -> None:
        """Repair the tail, learn the event ids logged, open for appending; raises OSError when the
        disk does not allow it (`append` then tries again: a service starts on a read-only disk)."""
        with self._lock:
            self._open()

    def _open(self) -> None:
        self._wanted = True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if cut := repair_torn_line(self.path):
            log.warning("%s: cut a torn last line (%d bytes)", self.path, cut)
        ids = [read_event_ids(self.generation(i)) for i in range(self.keep + 1)]
        self._open_current()
        self._ids = ids
        log.info("%s: %d events already logged", self.path, sum(map(len, self._ids)))

    def _open_current(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        # Lines a crashed writer left unsynced become durable before their events are acknowledged.
        os.fsync(self._fd)
        _fsync_dir(self.path.parent)
        self._size = os.fstat(self._fd).st_size

    def seen(self, event_id: str) -> bool:
        return any(event_id in ids for ids in self._ids)

    def append(self, records: Iterable[tuple[str, bytes]]) -> int:
        """Write the (event id, line) records not logged yet with one fsync; return how many.

        Either every new line is durable when this returns, or none is in the file and it raises.
        """
        with self._lock:
            if not self._wanted:
                raise RuntimeError("log writer is not open")
            if not self._ids:  # `open` failed (read-only disk at start-up): try again
                if self._fd is not None:
                    os.close(self._fd)
                    self._fd = None
                self._open()
            elif self._fd is None:  # a rotation that failed half-way (disk full, read-only): reopen
                self._open_current()
            if self._torn:  # a failed batch that could not be cut off then: cut it now
                os.ftruncate(self._fd, self._size)
                self._torn = False
            fresh: dict[str, bytes] = {}
            for event_id, line in records:
                if event_id not in fresh and not self.seen(event_id):
                    fresh[event_id] = line
            if not fresh:
                return 0
            data = b"".join(fresh.values())
            if self._size and self._size + len(data) > self.rotate_bytes:
                self._rotate()
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view) :]
                os.fsync(self._fd)
            except OSError:
                try:
                    os.ftruncate(self._fd, self._size)  # no partial batch stays behind a later one
                except OSError:
                    self._torn = True
                raise
            self._size += len(data)
            self._ids[0].update(fresh)
            return len(fresh)

    def _rotate(self) -> None:
        assert self._fd is not None
        os.close(self._fd)
        self._fd = None
        for i in range(self.keep, 0, -1):
            source = self.generation(i - 1)
            if source.exists():
                os.replace(source, self.generation(i))  # the oldest (.keep) is overwritten
        self._ids = [set(), *self._ids[:-1]]
        self._open_current()
        log.info("%s: rotated", self.path)

    def close(self) -> None:
        """Wait for a batch being written, then close the file."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            self._ids = []
            self._wanted = False
