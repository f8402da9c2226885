"""A real `codesift up` stack runs its nats-server with authentication: a client without the
stack's credentials is refused, the CLI finds its own, and the secrets are private."""

from __future__ import annotations

import json
import os
import stat

import nats
import pytest

from shared.nats_auth import KINDS, secrets_dir, users_file
from tests.integration.stack import ROOT, Stack, codesift

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    s = Stack(tmp_path_factory.mktemp("auth") / "data", replicas=1)
    try:
        s.wait_ready()
        yield s
    finally:
        code = s.stop()
        assert code == 0, s.output()[-3000:]


async def test_a_client_without_credentials_is_refused(stack: Stack):
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    with pytest.raises(nats.errors.NoServersError):
        await nats.connect(stack.nats_url, max_reconnect_attempts=1, error_cb=on_error)
    assert any("authorization violation" in e.lower() for e in errors), errors
    nc = await stack.nats_connect("cli")  # the same server, with the CLI's user
    assert nc.is_connected
    await nc.close()


def test_the_cli_connects_with_its_own_user(stack: Stack):
    done = codesift(
        "index", str(ROOT / "tests" / "fixtures" / "sample_repo"), "--name", "sample", data_dir=stack.data_dir
    )
    assert done.returncode == 0, done.stdout + done.stderr
    done = codesift("search", "invoice total with tax", "--k", "3", "--json", data_dir=stack.data_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["results"]
    done = codesift("status", data_dir=stack.data_dir)
    assert done.returncode == 0 and "search replicas: 1" in done.stdout, done.stdout + done.stderr


def test_a_wrong_password_is_refused_with_the_fix(stack: Stack, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CODESIFT_NATS_USER", "cli")
    monkeypatch.setenv("CODESIFT_NATS_PASSWORD", "not-the-password")
    done = codesift("status", data_dir=stack.data_dir, timeout=60)
    assert done.returncode == 1
    assert "refused user 'cli': authorization violation" in done.stderr
    assert str(users_file(stack.data_dir)) in done.stderr


def test_the_secrets_are_readable_by_their_owner_only(stack: Stack):
    assert stat.S_IMODE(os.stat(secrets_dir(stack.data_dir)).st_mode) == 0o700
    files = sorted(secrets_dir(stack.data_dir).glob("nats-*"))
    assert [f.name for f in files] == ["nats-server.conf", "nats-users.json"]
    assert all(stat.S_IMODE(os.stat(f).st_mode) == 0o600 for f in files)
    users = json.loads(users_file(stack.data_dir).read_text())["users"]
    assert sorted(users) == sorted(KINDS)
    output = stack.output()
    assert not [kind for kind, password in users.items() if password in output]  # none is printed
