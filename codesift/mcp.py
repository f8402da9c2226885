"""`codesift mcp`: the MCP server for coding agents, run as `python -m services.gateway mcp`.

The CLI does not import services: it replaces itself with the server's process (same stdin, stdout
and stderr, which an editor or agent CLI that launched `codesift mcp` speaks to), passing the data
directory on. The server finds the running stack as every command does (DATA_DIR/stack.json or
CODESIFT_NATS_URL) and exits with one line saying how to start one when none answers.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def server_argv(http_port: int | None) -> list[str]:
    argv = [sys.executable, "-m", "services.gateway", "mcp"]
    return [*argv, "--http", str(http_port)] if http_port is not None else argv


def run_mcp(http_port: int | None, data_dir: Path | None) -> int:
    """Exec the MCP server (never returns unless exec fails)."""
    env = dict(os.environ)
    if data_dir is not None:
        env["CODESIFT_DATA_DIR"] = str(data_dir)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, server_argv(http_port), env)
    return 1  # not reached
