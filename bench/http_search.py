"""End-to-end search latency through HTTP: a real `codesift up` stack serving a prepared index.

Used by bench/search.py: the index built there is published to the stack's object store (as the
indexer would), every replica loads it, then 1 and 8 concurrent clients query /api/search.
"""

from __future__ import annotations

import asyncio
import http.client
import statistics
import threading
import time
import urllib.parse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from services.search.index import SearchIndex
from services.search.snapshots import publish_snapshot
from shared import subjects
from shared.schemas import encoder
from shared.streams import bootstrap
from tests.integration.stack import Stack


async def _publish(stack: Stack, index: SearchIndex) -> str:
    nc = await stack.nats_connect("indexer")  # what the indexer publishes, as the indexer
    try:
        js = await bootstrap(nc)
        version = f"bench-{int(time.time())}"
        event = await publish_snapshot(js, version, index.to_archive(), index.repos(), len(index.chunks))
        await js.publish(subjects.INDEX_UPDATED, encoder.encode(event))
        return version
    finally:
        await nc.close()


def serve(index: SearchIndex, data_dir: Path, replicas: int = 2) -> Stack:
    stack = Stack(data_dir, replicas=replicas)
    stack.wait_ready()
    version = asyncio.run(_publish(stack, index))
    stack.wait_replicas(replicas, timeout=180, version=version)
    return stack


def _client(port: int, queries: Sequence[str], k: int, out: list[float], errors: list[int]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for q in queries:
        path = "/api/search?" + urllib.parse.urlencode({"q": q, "k": k})
        started = time.perf_counter()
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        out.append(time.perf_counter() - started)
        if response.status != 200:
            errors.append(response.status)
    conn.close()


def http_latency(port: int, queries: Sequence[str], clients: int, k: int = 10) -> dict[str, float]:
    """Each client sends every query once; returns p50/p99 ms, requests/s and errors."""
    _client(port, queries[:10], k, [], [])  # warm up
    times: list[float] = []
    errors: list[int] = []
    threads = [
        threading.Thread(target=_client, args=(port, queries[i::clients] * clients, k, times, errors))
        for i in range(clients)
    ]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    ms = np.array(times) * 1000
    return {
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "mean": statistics.fmean(ms),
        "rps": len(times) / wall,
        "requests": len(times),
        "errors": len(errors),
    }


def http_table(rows: dict[int, dict[str, float]], chunks: int, replicas: int) -> str:
    lines = [
        f"| HTTP /api/search end to end ({chunks} chunks, {replicas} replicas, no rerank) "
        "| p50 ms | p99 ms | req/s | errors |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for clients, r in rows.items():
        lines.append(
            f"| {clients} concurrent client{'s' if clients > 1 else ''} ({r['requests']} requests) "
            f"| {r['p50']:.1f} | {r['p99']:.1f} | {r['rps']:.0f} | {r['errors']} |"
        )
    return "\n".join(lines)
