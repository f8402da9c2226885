"""A full or read-only feedback log on a real stack: nothing acknowledged is lost, health names the cause.

DATA_DIR/logs is a 256 KiB tmpfs: filling it makes the telemetry service's writes fail with ENOSPC
for real; `chattr +i` on queries.jsonl makes a restarted telemetry service unable to open it (EPERM;
root ignores file modes, so a chmod would not). Both need root; elsewhere the tests are skipped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.chaos import process_of
from tests.integration.stack import Stack

pytestmark = pytest.mark.slow


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("disk") / "data"
    logs = data_dir / "logs"
    logs.mkdir(parents=True)
    mounted = run("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(logs))
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    s = Stack(data_dir, replicas=1)
    try:
        s.wait_ready()
        yield s
    finally:
        s.stop()
        run("chattr", "-i", str(logs / "queries.jsonl"))
        run("umount", "-l", str(logs))


def post_events(stack: Stack, n: int) -> list[str]:
    ids = []
    for _ in range(n):
        event = {"event_id": uuid.uuid4().hex, "query": "where is the password hashed"}
        event |= {"doc_id": "auth.py:1-9", "rating": 5, "source": "click", "timestamp": time.time()}
        request = urllib.request.Request(
            stack.url + "/api/telemetry/event",
            json.dumps(event).encode(),
            {"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as r:
            assert r.status == 202
        ids.append(event["event_id"])
    return ids


def logged(stack: Stack) -> Counter:
    path = stack.data_dir / "logs" / "queries.jsonl"
    if not path.exists():
        return Counter()
    return Counter(json.loads(raw)["event_id"] for raw in path.read_bytes().splitlines())


def wait(check, what: str, stack: Stack, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.2)
    pytest.fail(f"{what} not seen within {timeout} s: {stack.health()}\n{stack.output()[-3000:]}")


def problem(stack: Stack, text: str) -> list[str]:
    return [p for p in stack.health().get("problems", []) if text in p]


def fill(directory: Path) -> Path:
    """Take every free block; the log's last, partly used block still takes a few lines."""
    filler = directory / "filler"
    with filler.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"x" * 4096)
        except OSError:
            pass  # ENOSPC: full
    return filler


def check_held_then_stored(stack: Stack, cause: str, recover, some_fit: bool = False) -> None:
    """`some_fit`: the first events may still fit in the last page of the log file."""
    ids = post_events(stack, 60)  # accepted (202): in JetStream
    found = wait(lambda: problem(stack, "telemetry: log not writable"), "the health problem", stack)
    assert len(found) == 1 and found[0].startswith(f"telemetry: log not writable: {cause}"), found
    assert stack.health()["status"] == "degraded"
    time.sleep(1.5)  # redeliveries meanwhile still fail
    held = set(ids) - set(logged(stack))
    assert len(held) >= (30 if some_fit else 60)
    recover()
    wait(lambda: set(ids) <= set(logged(stack)), "every held event in the log", stack)
    counts = logged(stack)
    assert all(counts[i] == 1 for i in ids)
    assert max(counts.values()) == 1
    wait(lambda: not problem(stack, "telemetry"), "the problem cleared", stack, timeout=15)


def test_a_full_log_disk_holds_events_back_names_enospc_and_stores_each_once_it_has_room(stack: Stack):
    first = post_events(stack, 10)
    wait(lambda: set(first) <= set(logged(stack)), "the first events", stack)
    filler = fill(stack.data_dir / "logs")
    check_held_then_stored(stack, "[Errno 28] No space left on device", filler.unlink, some_fit=True)


def test_a_telemetry_restarted_on_a_read_only_log_holds_events_names_the_error_and_stores_each_later(
    stack: Stack,
):
    """On tmpfs an immutable file still takes writes through a descriptor opened before (ext4 does
    not: tests/unit/telemetry/test_disk_faults.py); a telemetry service (re)started then cannot open it."""
    path = stack.data_dir / "logs" / "queries.jsonl"
    marked = run("chattr", "+i", str(path))
    if marked.returncode != 0:
        pytest.skip(f"chattr does not work on this file system: {marked.stderr.strip()}")
    telemetry = process_of(stack, "telemetry")
    os.kill(telemetry.pid, signal.SIGKILL)

    def restarted() -> bool:
        services = stack.health().get("services", [])
        return any(s["service"] == "telemetry" and s["pid"] != telemetry.pid for s in services)

    wait(restarted, "the telemetry service restarted", stack)
    check_held_then_stored(stack, "[Errno 1] Operation not permitted", lambda: run("chattr", "-i", str(path)))
