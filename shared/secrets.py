"""A stack's secrets under DATA_DIR/secrets/: the gateway's admin token (admin.token).

`codesift up` creates the token on its first start (`ensure_admin_token`) and hands it to the
gateway; the CLI and the tests read it (`read_admin_token`). The directory is 0700 and every file
0600, each created with that mode from the start (never world-readable, not even for an instant).
An explicit CODESIFT_ADMIN_TOKEN in the environment wins over the file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

SECRETS_DIR = "secrets"
ADMIN_TOKEN_FILE = "admin.token"
ADMIN_TOKEN_VARIABLE = "CODESIFT_ADMIN_TOKEN"


def secrets_dir(data_dir: Path) -> Path:
    """DATA_DIR/secrets, created 0700 (an existing one is tightened to 0700)."""
    path = Path(data_dir) / SECRETS_DIR
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)  # the umask can only remove bits
    if path.stat().st_mode & 0o777 != 0o700:
        os.chmod(path, 0o700)
    return path


def admin_token_path(data_dir: Path) -> Path:
    return Path(data_dir) / SECRETS_DIR / ADMIN_TOKEN_FILE


def read_admin_token(data_dir: Path, environ: Mapping[str, str] | None = None) -> str:
    """CODESIFT_ADMIN_TOKEN when set, else DATA_DIR/secrets/admin.token; "" when there is neither."""
    env = os.environ if environ is None else environ
    if explicit := env.get(ADMIN_TOKEN_VARIABLE, "").strip():
        return explicit
    try:
        return admin_token_path(data_dir).read_text().strip()
    except FileNotFoundError:
        return ""


def ensure_admin_token(data_dir: Path) -> tuple[str, bool]:
    """The stack's admin token and whether it was created now (32 random bytes, URL-safe).

    The file is written under a temporary name opened 0600 with O_EXCL, then linked into place, so
    it is complete and private from the moment it exists; when two starters race, both use the
    winner's token.
    """
    path = admin_token_path(data_dir)
    with contextlib.suppress(FileNotFoundError):
        if token := path.read_text().strip():
            if path.stat().st_mode & 0o077:
                os.chmod(path, 0o600)
            return token, False
    directory = secrets_dir(data_dir)
    token = secrets.token_urlsafe(32)
    temporary = directory / f".{ADMIN_TOKEN_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(token + "\n")
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(temporary, path)  # fails when the file exists: someone else made it first
        except FileExistsError:
            if existing := path.read_text().strip():
                return existing, False
            os.replace(temporary, path)  # an empty file (a crash before any write): ours replaces it
            return token, True
        return token, True
    finally:
        temporary.unlink(missing_ok=True)
