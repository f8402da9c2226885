"""NATS credentials of an embedded stack: one user per process kind, in DATA_DIR/secrets/nats-users.json.

`codesift up` creates the file on first start (random passwords, directory 0700, file 0600 from
the moment it exists) and reuses it afterwards; it hands each service its own user through
CODESIFT_NATS_USER / CODESIFT_NATS_PASSWORD. The CLI (and `codesift mcp`) read the `cli` user
from the file when those variables are not set. What each user may do: codesift/nats_config.py.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from shared.settings import Settings

SECRETS_DIR = "secrets"
USERS_FILE = "nats-users.json"

# Every kind of process that connects; `search` is every search replica, `indexer` the indexing process.
KINDS = ("search", "indexer", "telemetry", "trainer", "evaluator", "promoter", "gateway", "cli")
CLI = "cli"


def secrets_dir(data_dir: Path) -> Path:
    return Path(data_dir) / SECRETS_DIR


def users_file(data_dir: Path) -> Path:
    return secrets_dir(data_dir) / USERS_FILE


def ensure_secrets_dir(data_dir: Path) -> Path:
    """DATA_DIR/secrets, readable by its owner only (tightened if it existed with wider rights)."""
    path = secrets_dir(data_dir)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` as a 0600 file: created 0600 under a temporary name, then renamed,
    so the content is never readable by others and never half-written."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT's mode is ignored for a file left over by a crash
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def read_users(data_dir: Path) -> dict[str, str] | None:
    """user -> password from DATA_DIR/secrets/nats-users.json; None when there is no such file."""
    try:
        raw = json.loads(users_file(data_dir).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CredentialsError(f"cannot read {users_file(data_dir)}: {exc}") from None
    users = raw.get("users") if isinstance(raw, dict) else None
    if not isinstance(users, dict) or not all(isinstance(v, str) and v for v in users.values()):
        raise CredentialsError(f'{users_file(data_dir)}: expected {{"users": {{name: password}}}}')
    return dict(users)


def load_or_create_users(data_dir: Path) -> dict[str, str]:
    """The stack's users, created on first start; a kind missing from an older file is added."""
    ensure_secrets_dir(data_dir)
    users = read_users(data_dir) or {}
    missing = [kind for kind in KINDS if kind not in users]
    if missing:
        users |= {kind: secrets.token_urlsafe(32) for kind in missing}
        write_private(users_file(data_dir), json.dumps({"users": users}, indent=2) + "\n")
    return users


class CredentialsError(RuntimeError):
    """The credentials file exists but cannot be used."""


def credentials(settings: Settings) -> tuple[str, str] | None:
    """(user, password) to connect with: CODESIFT_NATS_USER/PASSWORD, else the `cli` user of
    DATA_DIR/secrets/nats-users.json, else None (a server without authentication)."""
    if settings.nats_user:
        return settings.nats_user, settings.nats_password
    users = read_users(settings.data_dir)
    if users and CLI in users:
        return CLI, users[CLI]
    return None
