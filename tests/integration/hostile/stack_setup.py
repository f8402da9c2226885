"""A throwaway stack with the fixture repository indexed, and the admin token its mutating endpoints take."""

from __future__ import annotations

from pathlib import Path

from tests.integration.stack import ROOT, Stack, codesift

FIXTURE_REPO = ROOT / "tests" / "fixtures" / "sample_repo"
REPO_NAME = "sample"
ADMIN_TOKEN = Path("secrets") / "admin.token"  # under DATA_DIR, once admin tokens are in


def start_indexed_stack(data_dir: Path, replicas: int = 1) -> Stack:
    stack = Stack(data_dir, replicas=replicas)
    try:
        stack.wait_ready()
        done = codesift("index", str(FIXTURE_REPO), "--name", REPO_NAME, data_dir=data_dir)
        assert done.returncode == 0, done.stdout + done.stderr
        stack.wait_replicas(replicas)
    except BaseException:
        stack.stop()
        raise
    return stack


def admin_headers(data_dir: Path) -> dict[str, str]:
    """`Authorization: Bearer <token>` when the stack has an admin token, else nothing."""
    path = data_dir / ADMIN_TOKEN
    if not path.exists():
        return {}
    return {"Authorization": f"Bearer {path.read_text().strip()}"}
