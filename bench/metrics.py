"""What metrics cost a search: the same searches with metrics on and off, compared in one run.

    python -m bench.metrics [--repo PATH] [--rounds N] [--no-http]

1. In process (the replica's own work, the worst case: fusion only, the shortest search): two
   replicas over one index of the repository (this one by default, int8 embedder), one recording
   metrics and one built with CODESIFT_METRICS=false. Each golden question is searched on both,
   the order alternating, `--rounds` times: p50 and p99 with metrics on and off. The recording
   alone (what metrics add to one search: the clock readings, a counter, the stage observations)
   is also timed in a loop and shown as a share of the p50, since a 1% difference between two
   p50s is within the noise of a shared machine.
2. End to end: two `codesift up` stacks (1 replica each) serve the same index, one started with
   CODESIFT_METRICS=false; one HTTP client alternates each question between them. Plus what one
   scrape of a replica's metrics takes.

Prints markdown tables; `measure()` returns the figures for other benches.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec
import numpy as np
from prometheus_client import REGISTRY, generate_latest

from bench.http_search import serve
from services.search.embedding import Embedder
from services.search.export_embedder import ensure_embedder
from services.search.index import SearchIndex
from services.search.indexer import index_repository
from services.search.instruments import SearchInstruments
from services.search.replica import Replica
from services.search.settings import SearchSettings
from shared.schemas import IndexUpdated, SearchRequest
from shared.settings import settings

ROOT = Path(__file__).resolve().parent.parent
K = 10


@dataclass(frozen=True)
class Pair:
    """Latencies in ms of the same requests with metrics on and off."""

    label: str
    on: list[float]
    off: list[float]

    def p(self, which: str, q: float) -> float:
        return float(np.percentile(getattr(self, which), q))

    @property
    def cost(self) -> float:
        """p50 on / p50 off - 1."""
        return self.p("on", 50) / self.p("off", 50) - 1


def replica(index: SearchIndex, embedder: Embedder, metrics: bool) -> Replica:
    name = "bench-metrics-" + ("on" if metrics else "off")
    r = Replica(SearchSettings(replica_id=name, metrics=metrics), embedder)
    r.swap(index, IndexUpdated(time.time(), "bench", "0" * 64, len(index.chunks), index.repos()))
    return r


def in_process(index: SearchIndex, embedder: Embedder, queries: Sequence[str], rounds: int) -> Pair:
    on, off = replica(index, embedder, True), replica(index, embedder, False)
    requests = [msgspec.json.encode(SearchRequest(query=q, k=K)) for q in queries]
    for data in requests[:10]:  # warm up both
        on.search(data)
        off.search(data)
    times: dict[bool, list[float]] = {True: [], False: []}
    for r in range(rounds):
        for i, data in enumerate(requests):
            order = (on, off) if (i + r) % 2 == 0 else (off, on)
            for rep in order:
                began = time.perf_counter()
                rep.search(data)
                times[rep.metrics is not None].append((time.perf_counter() - began) * 1000)
    return Pair("replica search, in process (fusion only)", times[True], times[False])


def recording_alone(repeats: int = 200_000) -> float:
    """µs metrics add to one search: what Replica.search and the query handler do when they are on."""
    metrics = SearchInstruments("bench-metrics-recording")
    began = time.perf_counter()
    for _ in range(repeats):
        start = time.perf_counter()
        times: list[tuple[str, float]] = []
        retrieval = time.perf_counter()
        times.append(("retrieval", time.perf_counter() - retrieval))
        metrics.searched("ok")
        for stage, seconds in times:
            metrics.stage(stage, seconds)
        metrics.stage("total", time.perf_counter() - start)
        impression = time.perf_counter()
        metrics.stage("impression", time.perf_counter() - impression)
    return (time.perf_counter() - began) / repeats * 1e6


def scrape_ms(repeats: int = 200) -> float:
    began = time.perf_counter()
    for _ in range(repeats):
        generate_latest(REGISTRY)
    return (time.perf_counter() - began) / repeats * 1000


def _get(conn: http.client.HTTPConnection, query: str) -> float:
    began = time.perf_counter()
    conn.request("GET", "/api/search?" + urllib.parse.urlencode({"q": query, "k": K}))
    response = conn.getresponse()
    response.read()
    if response.status != 200:
        raise RuntimeError(f"search answered {response.status}")
    return (time.perf_counter() - began) * 1000


def over_http(index: SearchIndex, queries: Sequence[str], rounds: int) -> tuple[Pair, float]:
    """p50 through two real stacks, one without metrics; and ms per HTTP scrape of a replica."""
    with tempfile.TemporaryDirectory(prefix="codesift-bench-metrics-") as tmp:
        stacks = {}
        try:
            stacks[True] = serve(index, Path(tmp) / "on", replicas=1)
            os.environ["CODESIFT_METRICS"] = "false"  # read by the second stack's processes only
            try:
                stacks[False] = serve(index, Path(tmp) / "off", replicas=1)
            finally:
                del os.environ["CODESIFT_METRICS"]
            conns = {on: http.client.HTTPConnection("127.0.0.1", stack.port, timeout=30)
                     for on, stack in stacks.items()}  # fmt: skip
            for q in queries[:10]:  # warm up both
                for conn in conns.values():
                    _get(conn, q)
            times: dict[bool, list[float]] = {True: [], False: []}
            for r in range(rounds):
                for i, q in enumerate(queries):
                    for on in (True, False) if (i + r) % 2 == 0 else (False, True):
                        times[on].append(_get(conns[on], q))
            url = json.loads((stacks[True].data_dir / "stack.json").read_text())["metrics"]["search-1"]
            began = time.perf_counter()
            for _ in range(50):
                urllib.request.urlopen(url, timeout=10).read()
            scrape = (time.perf_counter() - began) / 50 * 1000
        finally:
            for stack in stacks.values():
                stack.stop()
    return Pair("HTTP /api/search end to end (1 replica, 1 client)", times[True], times[False]), scrape


def measure(repo: Path = ROOT, rounds: int = 5, http: bool = True) -> dict[str, object]:
    embedder = Embedder(ensure_embedder(settings().cache_dir), quantized=True)
    index, _ = index_repository(repo, repo.resolve().name, None, embedder)
    golden = json.loads((ROOT / "golden.json").read_text())
    queries = [g["q"] for g in golden]
    pairs = [in_process(index, embedder, queries, rounds)]
    recording = recording_alone()
    scrape = scrape_ms()
    http_scrape = None
    if http:
        pair, http_scrape = over_http(index, queries, rounds)
        pairs.append(pair)
    return {
        "chunks": len(index.chunks),
        "queries": len(queries),
        "pairs": pairs,
        "recording_us": recording,
        "scrape_ms": scrape,
        "http_scrape_ms": http_scrape,
    }


def table(figures: dict[str, object]) -> str:
    pairs: list[Pair] = figures["pairs"]  # type: ignore[assignment]
    lines = [
        f"| {figures['chunks']} chunks, {figures['queries']} questions | searches each | p50 on ms "
        "| p50 off ms | p50 cost | p99 on ms | p99 off ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for p in pairs:
        lines.append(
            f"| {p.label} | {len(p.on)} | {p.p('on', 50):.3f} | {p.p('off', 50):.3f} | {p.cost:+.2%} "
            f"| {p.p('on', 99):.2f} | {p.p('off', 99):.2f} |"
        )
    recording = float(figures["recording_us"])  # type: ignore[arg-type]
    p50 = pairs[0].p("off", 50) * 1000
    lines += [
        "",
        "| recording alone | value |",
        "| --- | ---: |",
        f"| added to one search: clock readings, a counter, 3 stage observations | {recording:.1f} µs |",
        f"| as a share of the in-process p50 without metrics ({p50 / 1000:.2f} ms) | {recording / p50:.2%} |",
        f"| one scrape rendered in process (a replica's metrics) | {figures['scrape_ms']:.2f} ms |",
    ]
    if figures["http_scrape_ms"] is not None:
        lines.append(f"| one scrape of a replica over HTTP | {figures['http_scrape_ms']:.2f} ms |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=ROOT, help="repository to index (default: this one)")
    parser.add_argument("--rounds", type=int, default=5, help="times each question is searched on each side")
    parser.add_argument("--no-http", action="store_true", help="skip the two-stack HTTP part")
    args = parser.parse_args(argv)
    figures = measure(args.repo, args.rounds, http=not args.no_http)
    print(f"\n## cost of metrics on search ({os.cpu_count()} CPUs, int8 embedder, k={K})\n")
    print(table(figures))


if __name__ == "__main__":
    main()
