"""DATA_DIR/secrets/admin.token: created once, private from the start, reused, overridden by the env."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

from shared.secrets import admin_token_path, ensure_admin_token, read_admin_token, secrets_dir


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_token_is_created_private_even_under_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        token, created = ensure_admin_token(tmp_path / "data")
    finally:
        os.umask(old)
    path = admin_token_path(tmp_path / "data")
    assert created and path == tmp_path / "data" / "secrets" / "admin.token"
    assert mode(path) == 0o600 and mode(path.parent) == 0o700
    assert path.read_text() == token + "\n"
    assert len(token) >= 43 and token.replace("-", "").replace("_", "").isalnum()  # 32 bytes, URL-safe
    assert os.listdir(path.parent) == ["admin.token"]  # no temporary file left behind


def test_the_token_is_reused_and_a_new_stack_gets_another(tmp_path):
    first, created = ensure_admin_token(tmp_path / "a")
    again, created_again = ensure_admin_token(tmp_path / "a")
    other, _ = ensure_admin_token(tmp_path / "b")
    assert created and not created_again
    assert again == first != other
    assert read_admin_token(tmp_path / "a", environ={}) == first


def test_two_starters_racing_agree_on_one_token(tmp_path):
    tokens: list[tuple[str, bool]] = []
    threads = [threading.Thread(target=lambda: tokens.append(ensure_admin_token(tmp_path))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({token for token, _ in tokens}) == 1
    assert sum(created for _, created in tokens) == 1
    assert read_admin_token(tmp_path, environ={}) == tokens[0][0]


def test_loosened_permissions_are_tightened(tmp_path):
    token, _ = ensure_admin_token(tmp_path)
    path = admin_token_path(tmp_path)
    os.chmod(path, 0o644)
    os.chmod(path.parent, 0o755)
    assert ensure_admin_token(tmp_path) == (token, False)
    assert mode(path) == 0o600
    assert mode(secrets_dir(tmp_path)) == 0o700


def test_the_environment_wins_over_the_file_and_nothing_is_empty(tmp_path):
    assert read_admin_token(tmp_path, environ={}) == ""
    assert read_admin_token(tmp_path, environ={"CODESIFT_ADMIN_TOKEN": "from-env"}) == "from-env"
    ensure_admin_token(tmp_path)
    assert read_admin_token(tmp_path, environ={"CODESIFT_ADMIN_TOKEN": "from-env"}) == "from-env"
    assert (
        read_admin_token(tmp_path, environ={"CODESIFT_ADMIN_TOKEN": ""})
        == admin_token_path(tmp_path).read_text().strip()
    )
