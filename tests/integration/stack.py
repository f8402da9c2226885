"""Run a real `codesift up` stack in a subprocess for integration tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from pathlib import Path

import nats
from nats.aio.client import Client

from shared.bus import server_list
from shared.secrets import read_admin_token

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def codesift(*args: str, data_dir: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = os.environ.copy()
    env.pop("CODESIFT_NATS_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "codesift.cli", *args, "--data-dir", str(data_dir)],  # as the README shows
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=ROOT,
    )


class Stack:
    def __init__(
        self,
        data_dir: Path,
        replicas: int = 2,
        extra: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ):
        """`extra`: more `codesift up` options (e.g. ("--golden", path)); `env`: more variables."""
        self.data_dir = data_dir
        self.port = free_port()
        self.replicas = replicas
        self.lines: deque[str] = deque(maxlen=4000)
        self.env = os.environ.copy() | (env or {})
        self.env.pop("CODESIFT_NATS_URL", None)
        env = self.env
        argv = [sys.executable, "-m", "codesift.cli", "up", "--data-dir", str(data_dir)]  # the README's form
        argv += ["--port", str(self.port), "--replicas", str(replicas), *extra]
        self.process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT
        )
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stdout
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def nats_url(self) -> str:
        return str(json.loads((self.data_dir / "stack.json").read_text())["nats_url"])

    async def nats_connect(self, kind: str = "cli", **options: object) -> Client:
        """A raw connection to the stack's nats-server as one of its users (default: the CLI's)."""
        from shared.nats_auth import read_users

        users = read_users(self.data_dir)
        assert users is not None, "codesift up wrote no DATA_DIR/secrets/nats-users.json"
        servers = server_list(self.nats_url)  # every node of a cluster (`codesift up --cluster N`)
        return await nats.connect(servers, user=kind, password=users[kind], **options)  # type: ignore[arg-type]

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_ready(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any("ready: http://" in line for line in list(self.lines)):
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"codesift up exited with {self.process.returncode}:\n{self.output()}")
            time.sleep(0.2)
        raise TimeoutError(f"stack not ready after {timeout} s:\n{self.output()[-5000:]}")

    def get(self, path: str, timeout: float = 30) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def admin_token(self) -> str:
        """The token the gateway asks of commands: CODESIFT_ADMIN_TOKEN, else the stack's file."""
        return read_admin_token(self.data_dir, environ=self.env)

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token()}"}

    def post(
        self, path: str, body: object = None, headers: dict[str, str] | None = None, timeout: float = 30
    ) -> tuple[int, dict, dict[str, str]]:
        """POST JSON (no body when None): status, decoded answer and headers (lower-case names)."""
        data = b"" if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data, {"Content-Type": "application/json", **(headers or {})}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as r:
                return r.status, json.loads(r.read() or b"{}"), {k.lower(): v for k, v in r.headers.items()}
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}"), {k.lower(): v for k, v in e.headers.items()}

    def health(self) -> dict:
        return self.get("/api/health")[1]

    def wait_replicas(self, n: int, timeout: float = 120, version: str | None = None) -> dict:
        deadline = time.monotonic() + timeout
        health: dict = {}
        while time.monotonic() < deadline:
            try:
                health = self.health()
                replicas = health.get("replicas", [])
                if len(replicas) >= n and (
                    version is None or all(r["index_version"] == version for r in replicas)
                ):
                    return health
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{n} replicas not seen: {health}\n{self.output()[-3000:]}")

    def stop(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode
