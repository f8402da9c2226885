"""`codesift up` makes the admin token on the first start, shows it once, hands it to the gateway
only, and serves on 127.0.0.1; `codesift token` prints it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from codesift.supervisor import Supervisor
from shared.secrets import admin_token_path

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def no_token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODESIFT_ADMIN_TOKEN", raising=False)


def planned(data_dir: Path) -> Supervisor:
    sup = Supervisor(data_dir, port=18012, replicas=1)
    sup.nats_url = "nats://127.0.0.1:14222"
    sup.prepare_admin_token()
    sup.plan("/nowhere/embedder")
    return sup


def codesift_token(data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "CODESIFT_ADMIN_TOKEN"} | env
    return subprocess.run(
        [sys.executable, "-m", "codesift.cli", "token", "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=environ,
    )  # fmt: skip


def test_the_first_start_shows_the_token_once_and_gives_it_to_the_gateway_only(
    tmp_path, capsys, no_token_env
):
    first = planned(tmp_path / "data")
    shown = capsys.readouterr().out
    path = admin_token_path(tmp_path / "data")
    token = path.read_text().strip()
    assert f"admin token: {token} (stored in {path})" in shown
    env = {svc.name: svc.env for svc in first.services}
    assert env["gateway"]["CODESIFT_ADMIN_TOKEN"] == token
    assert not [name for name, e in env.items() if name != "gateway" and "CODESIFT_ADMIN_TOKEN" in e]

    again = planned(tmp_path / "data")
    later = capsys.readouterr().out
    assert token not in later and f"stored in {path}" in later
    assert {svc.name: svc.env for svc in again.services}["gateway"]["CODESIFT_ADMIN_TOKEN"] == token


def test_an_explicit_token_wins_and_no_file_is_written(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CODESIFT_ADMIN_TOKEN", "chosen-by-the-operator")
    sup = planned(tmp_path / "data")
    assert {svc.name: svc.env for svc in sup.services}["gateway"][
        "CODESIFT_ADMIN_TOKEN"
    ] == "chosen-by-the-operator"
    assert "chosen-by-the-operator" not in capsys.readouterr().out
    assert not admin_token_path(tmp_path / "data").exists()


def test_the_gateway_listens_on_loopback_by_default(tmp_path, no_token_env):
    sup = planned(tmp_path / "data")
    assert sup.host == "127.0.0.1"
    assert {svc.name: svc.env for svc in sup.services}["gateway"]["CODESIFT_HTTP_HOST"] == "127.0.0.1"


def test_codesift_token_prints_the_stacks_token_or_says_how_to_get_one(tmp_path, no_token_env):
    missing = codesift_token(tmp_path / "data")
    assert missing.returncode == 1 and missing.stdout == ""
    assert (
        "no admin token at" in missing.stderr
        and f"codesift up --data-dir {tmp_path / 'data'}" in missing.stderr
    )

    planned(tmp_path / "data")
    token = admin_token_path(tmp_path / "data").read_text().strip()
    shown = codesift_token(tmp_path / "data")
    assert (shown.returncode, shown.stdout) == (0, token + "\n")
    explicit = codesift_token(tmp_path / "data", CODESIFT_ADMIN_TOKEN="from-env")
    assert explicit.stdout == "from-env\n"
