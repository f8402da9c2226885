"""Benchmark what the token check and the security headers add to one request in the gateway.

    python bench/auth.py [--requests 20000] [--rounds 5]

One Litestar app per variant with a single handler (a small JSON answer) marked as the gateway
marks its commands (`opt=ADMIN`), called through the ASGI interface in this process (no socket,
no NATS), so the difference between variants is the check and the before_send hook alone:

- bare: no check, no hook (what the gateway did before);
- open: the headers; no token set, so the check is not installed;
- admin token: the token set and sent (header parsed, compared in constant time);
- refused: the token set, a wrong one sent (403 through the gateway's error handler).

Prints a markdown table: µs of CPU per request, median of the rounds, and the difference to bare.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from litestar import Litestar, post  # noqa: E402

from services.gateway.auth import ADMIN, Access, security_headers  # noqa: E402
from services.gateway.errors import error_response  # noqa: E402
from services.gateway.settings import GatewaySettings  # noqa: E402

TOKEN = "x" * 43  # as long as secrets.token_urlsafe(32)


@post("/api/reranker/rollback", opt=ADMIN, status_code=202, sync_to_thread=False)
def rollback() -> dict[str, str]:
    return {"job_id": "rollback-20260101-000000-abcd1234", "kind": "rollback", "state": "queued"}


def app(guarded: bool, admin_token: str = "") -> Litestar:
    if not guarded:
        return Litestar([rollback], exception_handlers={Exception: error_response}, logging_config=None)
    access = Access(GatewaySettings(admin_token=admin_token))
    return Litestar(
        [rollback],
        exception_handlers={Exception: error_response},
        middleware=[access.middleware] if access.required else [],
        before_send=[security_headers],
        logging_config=None,
    )


async def call(asgi: Litestar, headers: list[tuple[bytes, bytes]]) -> int:
    status = 0
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/reranker/rollback",
        "raw_path": b"/api/reranker/rollback",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8012"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8012),
        "state": {},
    }

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await asyncio.create_task(asgi(scope, receive, send))  # type: ignore[arg-type]
    return status


async def per_request(asgi: Litestar, headers: list[tuple[bytes, bytes]], expect: int, n: int) -> float:
    assert await call(asgi, headers) == expect
    began = time.process_time()
    for _ in range(n):
        await call(asgi, headers)
    return (time.process_time() - began) / n * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    bearer = [(b"authorization", f"Bearer {TOKEN}".encode())]
    wrong = [(b"authorization", f"Bearer {'y' * 43}".encode())]
    variants = [
        ("bare (no check, no headers)", app(False), [], 202),
        ("open (headers; no token set: no check runs)", app(True), [], 202),
        ("admin token set and sent", app(True, TOKEN), bearer, 202),
        ("admin token set, a wrong one sent (403)", app(True, TOKEN), wrong, 403),
    ]
    timings: dict[str, list[float]] = {name: [] for name, *_ in variants}
    for _ in range(args.rounds):  # interleaved, so a busy moment of the machine hits every variant
        for name, asgi, headers, expect in variants:
            timings[name].append(await per_request(asgi, headers, expect, args.requests))
    bare = statistics.median(timings[variants[0][0]])
    print(f"{args.requests} requests × {args.rounds} rounds, in process (ASGI, no socket)\n")
    print("| variant | µs CPU / request (median) | vs bare |")
    print("| --- | ---: | ---: |")
    for name, *_ in variants:
        median = statistics.median(timings[name])
        print(f"| {name} | {median:.1f} | {median - bare:+.1f} |")


if __name__ == "__main__":
    asyncio.run(main())
