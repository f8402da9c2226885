"""Hot reload under load: time from a promotion until every replica serves the new model, and failed searches.

    python -m bench.reload [--replicas 3] [--swaps 5] [--cold 1] [--clients 4] [--model DIR]

A real nats-server, N search replica processes (`python -m services.search replica`, as `codesift up`
starts them) serving the fixture repository's index, and a real trained model (the tiny test
model, trained here in about a minute, unless --model names an artifact directory). Each swap
moves the production pointer and broadcasts `codesift.model.updated`, as the promoter does, while
clients search without pause; the time is taken when the last replica's ping names the new
version. Kinds of swap:

- announced: the model was announced by `codesift.model.trained` first (the trainer always does),
  so every replica had it downloaded, verified and warmed before the promotion;
- rollback: back to the version served before (replicas keep it warm);
- on disk: a version served earlier, in the replicas' disk cache only (verified and loaded again);
- cold: a version no replica has seen: downloaded from the object store during the swap (--cold N
  of them, each under a new name; the archive carries what is served, not the fp32 `model.onnx`);
- none: back to no reranker.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import nats
import numpy as np
from nats.aio.client import Client
from nats.js import JetStreamContext

from shared.artifacts import VERSION_PREFIX
from shared.streams import bootstrap
from tests.conftest import start_nats
from tests.integration.replicas import (
    ReplicaProcess,
    announce_trained,
    build_index,
    promote,
    publish_index,
    search,
    upload_model,
    wait_for,
)
from tests.model_fixtures import train_tiny_model

QUERIES = (
    "where is the password hashed",
    "how are tokens checked",
    "render a template",
    "read the configuration file",
    "send an email to the user",
    "which command starts the server",
)
SETTLE_S = 0.5  # searching before and after each swap


@dataclass
class Swap:
    kind: str
    version: str | None
    seconds: float
    searches: int
    failed: int
    p99_ms: float
    answered_by: dict[str, int]  # reranker label -> searches


async def _client(nc: Client, stop: asyncio.Event, times: list[float], seen: Counter, failures: list[str]):
    i = 0
    while not stop.is_set():
        began = time.perf_counter()
        try:
            reply = await search(nc, QUERIES[i % len(QUERIES)], k=10, timeout=10)
        except Exception as exc:
            failures.append(repr(exc))
        else:
            if reply.response is None:
                failures.append(str(reply.error))
            else:
                seen[reply.response.reranker] += 1
        times.append(time.perf_counter() - began)
        i += 1


async def timed_swap(
    nc: Client,
    js: JetStreamContext,
    kind: str,
    version: str | None,
    sha256: str | None,
    replicas: int,
    clients: int,
) -> Swap:
    stop, times, seen, failures = asyncio.Event(), [], Counter(), []
    load = [asyncio.create_task(_client(nc, stop, times, seen, failures)) for _ in range(clients)]
    await asyncio.sleep(SETTLE_S)
    began = time.perf_counter()
    await promote(nc, js, version, sha256)
    await wait_for(nc, replicas, lambda info: info.reranker_version == version, timeout=120, poll=0.005)
    seconds = time.perf_counter() - began
    await asyncio.sleep(SETTLE_S)
    stop.set()
    await asyncio.gather(*load)
    p99 = float(np.percentile(np.array(times) * 1000, 99)) if times else 0.0
    return Swap(kind, version, seconds, len(times), len(failures), p99, dict(seen))


async def run(
    model_dir: Path, work: Path, replicas: int, swaps: int, cold_swaps: int, clients: int
) -> tuple[list[Swap], int]:
    """The swaps, and the size of the archive in the object store."""
    server = start_nats(work / "nats")
    processes: list[ReplicaProcess] = []
    nc = await nats.connect(server.url)
    try:
        js = await bootstrap(nc, replicas=1)
        await publish_index(nc, js, await asyncio.to_thread(build_index), "bench-reload")
        announced = [f"{VERSION_PREFIX}20260201-{i:06d}" for i in range(swaps)]
        cold = [f"{VERSION_PREFIX}20260301-{i:06d}" for i in range(cold_swaps)]
        sha256, data = await upload_model(js, model_dir, aliases=(*announced, *cold))
        for i in range(replicas):
            processes.append(ReplicaProcess(f"search-{i + 1}", server.url, work / "data", work / "cache"))
        await wait_for(nc, replicas, lambda info: info.index_version == "bench-reload", timeout=180, poll=0.2)

        results = []
        for version in announced:
            await announce_trained(nc, version, sha256)
            prepared = lambda info, v=version: info.reranker_prepared == v  # noqa: E731
            await wait_for(nc, replicas, prepared, timeout=180, poll=0.1)
            results.append(await timed_swap(nc, js, "announced", version, sha256, replicas, clients))
        results.append(await timed_swap(nc, js, "rollback", announced[-2], sha256, replicas, clients))
        results.append(await timed_swap(nc, js, "on disk", announced[-3], sha256, replicas, clients))
        for version in cold:
            results.append(await timed_swap(nc, js, "cold", version, sha256, replicas, clients))
        results.append(await timed_swap(nc, js, "none", None, None, replicas, clients))
        return results, len(data)
    finally:
        await nc.close()
        codes = [p.stop() for p in processes]
        server.stop()
        if any(codes):
            print("replica exit codes:", codes, processes[0].output()[-2000:])


def table(results: list[Swap], replicas: int, clients: int, artifact_mb: float) -> str:
    lines = [
        f"| swap ({replicas} replicas, {clients} searching clients, archive {artifact_mb:.0f} MB) "
        "| promotion → all serving, ms | searches during | failed | p99 search ms |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r.kind} → {r.version or 'no reranker'} | {r.seconds * 1000:.0f} | {r.searches} "
            f"| {r.failed} | {r.p99_ms:.0f} |"
        )
    announced = [r.seconds * 1000 for r in results if r.kind == "announced"]
    if announced:
        failed, searches = sum(r.failed for r in results), sum(r.searches for r in results)
        lines.append(
            f"\nannounced swaps: median {statistics.median(announced):.0f} ms, max {max(announced):.0f} ms; "
            f"failed searches in all swaps: {failed} of {searches}"
        )
    cold = [r.seconds * 1000 for r in results if r.kind == "cold"]
    if cold:
        lines.append(f"never-seen models ({len(cold)}): median {statistics.median(cold):.0f} ms")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--swaps", type=int, default=5, help="announced swaps (at least 3)")
    parser.add_argument("--cold", type=int, default=1, help="swaps to a model no replica has seen")
    parser.add_argument("--clients", type=int, default=4, help="concurrent searching clients")
    parser.add_argument("--model", type=Path, help="a model artifact directory (default: train the tiny one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="codesift-bench-reload-") as tmp:
        work = Path(tmp)
        model_dir = args.model or train_tiny_model(work / "models")
        results, size = asyncio.run(
            run(model_dir, work, args.replicas, max(3, args.swaps), args.cold, args.clients)
        )
    print(f"\n## codesift hot reload ({os.cpu_count()} CPUs)\n")
    print(table(results, args.replicas, args.clients, size / 1e6))


if __name__ == "__main__":
    main()
