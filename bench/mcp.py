"""What the MCP path costs: rag_search over stdio and streamable HTTP against GET /api/search, one run.

    python -m bench.mcp [--repo PATH] [--name NAME] [--golden FILE] [--calls N] [--k K] [--replicas N]

Starts a real `codesift up` stack, indexes the repository (default: this one), then sends the same
questions (the golden file's, cycled) N times down each path, one client at a time, interleaved
(api, stdio, http, api, stdio, ...) so that the three share the machine's noise:

- `/api/search`: GET on a keep-alive HTTP connection to the gateway (the baseline);
- `rag_search` over stdio: the SDK's ClientSession talking to `codesift mcp` (as an editor runs it);
- `rag_search` over streamable HTTP: the SDK's ClientSession at the gateway's /mcp;
- `rag_search` as raw JSON-RPC POSTs to /mcp on a keep-alive connection (one session, the JSON
  decoded, nothing validated): what the server side of the MCP path costs, apart from the SDK
  client's own work (it re-validates every result against the tool's output schema with jsonschema,
  ~3 ms a call measured with cProfile).

Prints calls/s, p50 and p99 per path, the MCP overhead (p50 minus the baseline's p50; the target is
≤ 5 ms) and the CPU time the client itself spent per call (the SDK's client parses and validates
every result against the tool's output schema: part of what an agent waits for).

Each path is a `Target` measured by `measure`. A comparison with the gateway's metrics switched
off (`--metrics`, the metrics work's figure) belongs here as the same targets measured on a second
stack started with metrics off, printed in the same table.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import sys
import tempfile
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from tests.integration.stack import ROOT, Stack, codesift

WARMUP = 20  # calls per path before timing


@dataclass
class Timings:
    name: str
    seconds: list[float] = field(default_factory=list)
    cpu: float = 0.0  # seconds of this (the client's) process, all calls
    errors: int = 0

    def ms(self, q: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    @property
    def per_second(self) -> float:
        return len(self.seconds) / sum(self.seconds)


Call = Callable[[str, int], Awaitable[bool]]  # (question, k) -> answered without error


@dataclass
class Target:
    name: str
    call: Call


def api_path(stack: Stack) -> Target:
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)

    async def call(q: str, k: int) -> bool:
        conn.request("GET", "/api/search?" + urllib.parse.urlencode({"q": q, "k": k}))
        response = conn.getresponse()
        response.read()
        return response.status == 200

    return Target("GET /api/search (baseline)", call)


def tool_path(name: str, session: ClientSession) -> Target:
    async def call(q: str, k: int) -> bool:
        result = await session.call_tool("rag_search", {"query": q, "k": k})
        return not result.is_error and bool(result.structured_content)

    return Target(name, call)


def raw_http_path(stack: Stack) -> Target:
    """tools/call as JSON-RPC over plain HTTP/1.1 (a client that trusts the server's results)."""
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}

    def post(body: dict) -> tuple[http.client.HTTPResponse, bytes]:
        conn.request("POST", "/mcp", json.dumps(body), headers)
        response = conn.getresponse()
        return response, response.read()

    hello = {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "bench", "version": "1"},
    }
    response, body = post({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": hello})
    headers["mcp-session-id"] = response.getheader("mcp-session-id") or ""
    headers["mcp-protocol-version"] = json.loads(body)["result"]["protocolVersion"]
    post({"jsonrpc": "2.0", "method": "notifications/initialized"})
    ids = iter(range(1, 1 << 30))

    async def call(q: str, k: int) -> bool:
        params = {"name": "rag_search", "arguments": {"query": q, "k": k}}
        response, body = post({"jsonrpc": "2.0", "id": next(ids), "method": "tools/call", "params": params})
        result = json.loads(body).get("result", {})
        return response.status == 200 and not result.get("isError") and bool(result.get("structuredContent"))

    return Target("rag_search as raw JSON-RPC POSTs to /mcp (no client validation)", call)


@asynccontextmanager
async def mcp_sessions(stack: Stack) -> AsyncIterator[list[Target]]:
    """Both MCP transports, each one initialized session for the whole run."""
    async with AsyncExitStack() as stack_:
        command = [sys.executable, "-m", "codesift.cli", "mcp", "--data-dir", str(stack.data_dir)]
        params = StdioServerParameters(command=command[0], args=command[1:], cwd=ROOT)
        paths = []
        for name, transport in [
            ("rag_search over stdio (codesift mcp)", stdio_client(params)),
            ("rag_search over streamable HTTP (/mcp)", streamable_http_client(stack.url + "/mcp")),
        ]:
            read, write = await stack_.enter_async_context(transport)
            session = await stack_.enter_async_context(ClientSession(read, write))
            await session.initialize()
            paths.append(tool_path(name, session))
        yield paths


async def measure(paths: list[Target], questions: list[str], calls: int, k: int) -> list[Timings]:
    """Every path gets the same questions, interleaved call by call."""
    timings = [Timings(p.name) for p in paths]
    for i in range(WARMUP):
        for p in paths:
            await p.call(questions[i % len(questions)], k)
    for i in range(calls):
        q = questions[i % len(questions)]
        order = list(zip(paths, timings, strict=True))
        for p, t in order[i % len(order) :] + order[: i % len(order)]:  # who goes first rotates
            started, cpu = time.perf_counter(), time.process_time()
            ok = await p.call(q, k)
            t.seconds.append(time.perf_counter() - started)
            t.cpu += time.process_time() - cpu
            t.errors += not ok
    return timings


def table(timings: list[Timings], calls: int, k: int, chunks: int) -> str:
    base = timings[0].ms(0.5)
    rows = [
        f"| path ({calls} calls each, k={k}, {chunks} chunks, 1 client) | calls/s | p50 ms | p99 ms "
        "| p50 over /api/search | client CPU ms/call | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for t in timings:
        overhead = "—" if t is timings[0] else f"{t.ms(0.5) - base:+.2f} ms"
        figures = f"{t.per_second:.0f} | {t.ms(0.5):.2f} | {t.ms(0.99):.2f}"
        rows.append(
            f"| {t.name} | {figures} | {overhead} | {t.cpu / len(t.seconds) * 1000:.2f} | {t.errors} |"
        )
    return "\n".join(rows)


async def run(stack: Stack, questions: list[str], calls: int, k: int) -> list[Timings]:
    async with mcp_sessions(stack) as tools:
        return await measure([api_path(stack), *tools, raw_http_path(stack)], questions, calls, k)


def serving_one_index(stack: Stack, replicas: int, timeout: float = 60) -> dict:
    """Health once every replica serves the same index (each loads a new one when it hears of it)."""
    deadline = time.monotonic() + timeout
    while True:
        health = stack.wait_replicas(replicas)
        versions = {r["index_version"] for r in health["replicas"]}
        if (len(versions) == 1 and None not in versions) or time.monotonic() > deadline:
            return health
        time.sleep(0.2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=ROOT, help="repository to index (default: this one)")
    parser.add_argument("--name", default="codesift")
    parser.add_argument("--golden", type=Path, default=ROOT / "golden.json", help="questions to ask")
    parser.add_argument("--calls", type=int, default=500, help="timed calls per path")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--replicas", type=int, default=2)
    args = parser.parse_args(argv)
    questions = [q["q"] for q in json.loads(args.golden.read_text())]
    with tempfile.TemporaryDirectory(prefix="codesift-bench-mcp-") as tmp:
        stack = Stack(Path(tmp) / "data", replicas=args.replicas)
        try:
            stack.wait_ready()
            done = codesift("index", str(args.repo.resolve()), "--name", args.name, data_dir=stack.data_dir)
            if done.returncode != 0:
                raise SystemExit(f"indexing failed: {done.stderr}")
            health = serving_one_index(stack, args.replicas)
            timings = asyncio.run(run(stack, questions, args.calls, args.k))
        finally:
            stack.stop()
    chunks = int(health["index"]["chunks"])
    print(f"\n## codesift MCP rag_search against /api/search ({os.cpu_count()} CPUs)\n")
    print(table(timings, args.calls, args.k, chunks))
    overheads = [t.ms(0.5) - timings[0].ms(0.5) for t in timings[1:]]
    print(f"\nMCP overhead at p50: {', '.join(f'{o:+.2f} ms' for o in overheads)} (target ≤ 5 ms)")


if __name__ == "__main__":
    main()
