"""Benchmark feedback capture: events/s the gateway accepts, and the lag from accept to log line.

    python bench/feedback.py [--clients 8] [--seconds 10] [--lag-rate 500]

Starts a real nats-server (temp JetStream store) and the gateway (`python -m services.gateway`) in
subprocesses, then runs `--clients` concurrent clients, each POSTing valid events one after another
on its own keep-alive connection for `--seconds`. Every event accepted (202) must be in the
FEEDBACK stream afterwards. The CPU time the gateway and nats-server spent per accepted event is
read from /proc: it says what the gateway costs even while other work shares the cores.

When the telemetry service exists (`services/telemetry`), it is started too, and a second run
offering `--lag-rate` events/s measures the lag from each 202 to the event's line in the log. Its
events refer to searches whose impressions are in the IMPRESSIONS stream, as a replica leaves them.
Prints markdown tables.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import nats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.schemas import Impression, ShownResult  # noqa: E402 (after the path is set)
from shared.streams import bootstrap  # noqa: E402
from shared.subjects import impression_subject  # noqa: E402
from tests.conftest import start_nats  # noqa: E402
from tests.integration.stack import free_port  # noqa: E402

URL = "/api/telemetry/event"
REQUEST = b"POST %s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)
SOURCES = (("click", 5), ("thumbs_up", 5), ("thumbs_down", 1))
QUERY = "where is the bearer token validated"
SHOWN = 10  # results per impression


@dataclass
class Run:
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, accepted events only
    statuses: Counter[int] = field(default_factory=Counter)
    accepted_at: dict[str, float] = field(default_factory=dict)  # event id -> time.time() of its 202


# ---------------------------------------------------------------- events and impressions


def doc_id(n: int) -> str:
    return f"acme/auth/tokens.py:{n * 20 + 1}-{n * 20 + 20}"


def event_body(event_id: str, n: int, query_ids: list[str]) -> bytes:
    """A valid click or thumbs event on one result of a search (a fresh query id when none is given)."""
    source, rating = SOURCES[n % len(SOURCES)]
    position = n % SHOWN + 1
    return msgspec.json.encode(
        {
            "event_id": event_id,
            "query": QUERY,
            "doc_id": doc_id(position),
            "rating": rating,
            "source": source,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "query_id": random.choice(query_ids) if query_ids else uuid.uuid4().hex,
            "position": position,
            "repo": "acme",
        }
    )


async def publish_impressions(nats_url: str, n: int) -> list[str]:
    """Leave `n` impressions in JetStream, as search replicas do; return their query ids."""
    nc = await nats.connect(nats_url)
    js = await bootstrap(nc, 1)
    query_ids = [uuid.uuid4().hex for _ in range(n)]
    for query_id in query_ids:
        shown = [
            ShownResult(p, doc_id(p), "acme", "acme/auth/tokens.py", 1.0 / p) for p in range(1, SHOWN + 1)
        ]
        impression = Impression(
            query_id, QUERY, "acme", SHOWN, shown, "none (fusion order)", None, "bench", "bench", time.time()
        )
        await js.publish(impression_subject(query_id), msgspec.json.encode(impression))
    await nc.close()
    return query_ids


# ---------------------------------------------------------------- clients


async def post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes) -> int:
    """One POST on a keep-alive HTTP/1.1 connection; the answer's status."""
    writer.write(REQUEST % (URL.encode(), len(body)) + body)
    head = await reader.readuntil(b"\r\n\r\n")
    match = _LENGTH.search(head)
    await reader.readexactly(int(match.group(1)) if match else 0)
    return int(head[9:12])


async def client(
    port: int, name: str, run: Run, stop_at: float, interval: float, query_ids: list[str]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    n = 0
    try:
        while (started := time.perf_counter()) < stop_at:
            event_id = f"{name}-{n}"
            status = await post(reader, writer, event_body(event_id, n, query_ids))
            run.statuses[status] += 1
            if status == 202:
                run.latencies.append(time.perf_counter() - started)
                run.accepted_at[event_id] = time.time()
            n += 1
            if interval:
                await asyncio.sleep(max(0.0, started + interval - time.perf_counter()))
    finally:
        writer.close()


async def load(
    port: int, clients: int, seconds: float, tag: str, rate: float = 0.0, query_ids: list[str] | None = None
) -> Run:
    """`clients` clients posting for `seconds`: each as fast as answers come (rate 0) or `rate`/s in all."""
    run = Run()
    interval = clients / rate if rate else 0.0
    start = time.perf_counter()
    names = (f"{tag}-{i}" for i in range(clients))
    await asyncio.gather(
        *(client(port, name, run, start + seconds, interval, query_ids or []) for name in names)
    )
    run.seconds = time.perf_counter() - start
    return run


# ---------------------------------------------------------------- processes


def service(module: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", module], env=os.environ | env, cwd=ROOT, stdout=out, stderr=out
        )


async def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the gateway exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return
    raise SystemExit(f"the gateway did not listen on {port} within {timeout:g} s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def stream_count(nats_url: str) -> int:
    nc = await nats.connect(nats_url)
    try:
        return int((await nc.jetstream().stream_info("FEEDBACK")).state.messages)
    finally:
        await nc.close()


async def tail_log(log_path: Path, arrivals: dict[str, float], stop: asyncio.Event) -> None:
    """Record when each event id first appears in the log (read every 5 ms) until `stop` is set."""
    offset = 0
    pending = b""
    while not stop.is_set():
        if log_path.exists():
            with log_path.open("rb") as f:
                f.seek(offset)
                chunk = f.read()
            seen = time.time()
            offset += len(chunk)
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                arrivals.setdefault(json.loads(line).get("event_id"), seen)
        await asyncio.sleep(0.005)


async def log_lags(
    log_path: Path, accepted_at: dict[str, float], arrivals: dict[str, float], timeout: float = 60
) -> list[float]:
    """Seconds from each 202 to the moment its line was in the log, once every accepted one is there."""
    deadline = time.monotonic() + timeout
    while any(e not in arrivals for e in accepted_at) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    if missing := sum(1 for e in accepted_at if e not in arrivals):
        print(f"\n**{missing} accepted events were not in {log_path} after {timeout:g} s**")
    return [arrivals[e] - t for e, t in accepted_at.items() if e in arrivals]


# ---------------------------------------------------------------- report


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def report(title: str, clients: int, run: Run, extra: dict[str, str]) -> None:
    accepted = run.statuses[202]
    others = run.statuses - Counter({202: accepted})
    columns = {
        "clients": str(clients),
        "seconds": f"{run.seconds:.1f}",
        "accepted (202)": str(accepted),
        "events/s": f"{accepted / run.seconds:,.0f}",
        "p50 ms": f"{percentile(run.latencies, 0.5) * 1000:.2f}",
        "p99 ms": f"{percentile(run.latencies, 0.99) * 1000:.2f}",
        "errors": f"{sum(others.values())} {dict(others) or ''}".strip(),
        **extra,
    }
    print(f"\n### {title}\n")
    print("| " + " | ".join(columns) + " |")
    print("|" + " --- |" * len(columns))
    print("| " + " | ".join(columns.values()) + " |")


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="codesift-bench-") as tmp:
        data_dir = Path(tmp)
        server = start_nats(data_dir / "nats")
        port = free_port()
        env = {
            "CODESIFT_NATS_URL": server.url,
            "CODESIFT_DATA_DIR": str(data_dir),
            "CODESIFT_HTTP_PORT": str(port),
        }
        gateway = service("services.gateway", env, data_dir / "gateway.log")
        processes = [gateway]
        try:
            await wait_for_port(port, gateway, data_dir / "gateway.log")
            await load(port, args.clients, 1.0, "warmup")
            before = await stream_count(server.url)
            cpu_before = cpu_seconds(gateway.pid), cpu_seconds(server.process.pid)
            run = await load(port, args.clients, args.seconds, "run")
            cpu_after = cpu_seconds(gateway.pid), cpu_seconds(server.process.pid)
            stored = await stream_count(server.url) - before
            accepted = max(1, run.statuses[202])
            gateway_us, nats_us = (
                (b - a) / accepted * 1e6 for a, b in zip(cpu_before, cpu_after, strict=True)
            )
            report(
                f"gateway: POST {URL} as fast as answers come, {os.cpu_count()} cores",
                args.clients,
                run,
                {
                    "in the stream": str(stored),
                    "gateway CPU µs/event": f"{gateway_us:.0f}",
                    "nats-server CPU µs/event": f"{nats_us:.0f}",
                },
            )
            if stored != run.statuses[202]:
                print(f"\n**{run.statuses[202]} events were accepted but {stored} are in the stream**")

            if importlib.util.find_spec("services.telemetry") is None:
                print("\nEnd-to-end lag not measured: no telemetry service (services/telemetry) yet.")
                return
            log_path = data_dir / "logs" / "queries.jsonl"
            telemetry = service(
                "services.telemetry", env | {"CODESIFT_LOG_PATH": str(log_path)}, data_dir / "t.log"
            )
            processes.append(telemetry)
            query_ids = await publish_impressions(server.url, 200)
            arrivals: dict[str, float] = {}
            stop = asyncio.Event()
            tailer = asyncio.create_task(tail_log(log_path, arrivals, stop))  # reads while events arrive
            await log_lags(log_path, run.accepted_at, arrivals, timeout=120)  # the backlog of the run above
            paced = await load(
                port, args.clients, args.seconds, "lag", rate=args.lag_rate, query_ids=query_ids
            )
            lags = await log_lags(log_path, paced.accepted_at, arrivals)
            stop.set()
            await tailer
            report(
                f"paced run: {args.lag_rate:g} events/s offered, telemetry service running",
                args.clients,
                paced,
                {},
            )
            print("\n| end-to-end lag, 202 -> line in the log | events | p50 ms | p99 ms | max ms |")
            print("| --- | --- | --- | --- | --- |")
            print(
                f"| telemetry service, impressions found | {len(lags)} "
                f"| {statistics.median(lags) * 1000:.1f} "
                f"| {percentile(lags, 0.99) * 1000:.1f} | {max(lags) * 1000:.1f} |"
            )
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=30)
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients, one connection each")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each run")
    parser.add_argument("--lag-rate", type=float, default=500.0, help="events/s offered while measuring lag")
    asyncio.run(main(parser.parse_args()))
