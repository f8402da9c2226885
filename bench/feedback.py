"""Benchmark feedback capture: events/s the gateway accepts, and the lag from accept to log line.

    python bench/feedback.py [--clients 8] [--seconds 10] [--workers 1]

Starts a real nats-server (temp JetStream store) and the gateway (`python -m services.gateway`) in
subprocesses, then runs `--clients` concurrent clients, each POSTing valid events one after another
on its own keep-alive connection for `--seconds`. Every event accepted (202) must be in the
FEEDBACK stream afterwards. When the telemetry service exists (`services/telemetry`), it is started
too and the lag from each 202 to the event's line in the log is measured on a second, paced run.
Prints markdown tables.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
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

from tests.conftest import NatsServer, start_nats  # noqa: E402 (after the path is set)
from tests.integration.stack import free_port  # noqa: E402

URL = "/api/telemetry/event"
_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)
SOURCES = (("click", 5), ("thumbs_up", 5), ("thumbs_down", 1))


@dataclass
class Run:
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, accepted events only
    statuses: Counter[int] = field(default_factory=Counter)
    accepted_at: dict[str, float] = field(default_factory=dict)  # event id -> time.time() of the 202


def event_body(event_id: str, n: int) -> bytes:
    source, rating = SOURCES[n % len(SOURCES)]
    return msgspec.json.encode(
        {
            "event_id": event_id,
            "query": "where is the bearer token validated",
            "doc_id": f"acme/auth/tokens.py:{n % 90 + 1}-{n % 90 + 20}",
            "rating": rating,
            "source": source,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "query_id": uuid.uuid4().hex,
            "position": n % 10 + 1,
            "repo": "acme",
        }
    )


async def post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: bytes) -> int:
    """One POST on a keep-alive HTTP/1.1 connection; the answer's status."""
    writer.write(
        b"POST %s HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
        % (URL.encode(), len(body), body)
    )
    head = await reader.readuntil(b"\r\n\r\n")
    match = _LENGTH.search(head)
    await reader.readexactly(int(match.group(1)) if match else 0)
    return int(head[9:12])


async def client(port: int, name: str, run: Run, stop_at: float, interval: float) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    n = 0
    try:
        while (now := time.perf_counter()) < stop_at:
            event_id = f"{name}-{n}"
            start = time.perf_counter()
            status = await post(reader, writer, event_body(event_id, n))
            run.statuses[status] += 1
            if status == 202:
                run.latencies.append(time.perf_counter() - start)
                run.accepted_at[event_id] = time.time()
            n += 1
            if interval:
                await asyncio.sleep(max(0.0, now + interval - time.perf_counter()))
    finally:
        writer.close()


async def load(port: int, clients: int, seconds: float, tag: str, rate: float = 0.0) -> Run:
    """`clients` clients posting for `seconds`, as fast as answers come (rate 0) or `rate` events/s in all."""
    run = Run()
    interval = clients / rate if rate else 0.0
    start = time.perf_counter()
    stop_at = start + seconds
    await asyncio.gather(*(client(port, f"{tag}-{i}", run, stop_at, interval) for i in range(clients)))
    run.seconds = time.perf_counter() - start
    return run


def start_gateway(nats_url: str, data_dir: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "CODESIFT_NATS_URL": nats_url,
        "CODESIFT_DATA_DIR": str(data_dir),
        "CODESIFT_HTTP_PORT": str(port),
        "CODESIFT_HTTP_WORKERS": str(workers),
    }
    log = (data_dir / "gateway.log").open("wb")
    return subprocess.Popen([sys.executable, *os.environ.get("BENCH_GATEWAY", "-m services.gateway").split()], env=env, cwd=ROOT, stdout=log, stderr=log)


def start_telemetry(nats_url: str, data_dir: Path, log_path: Path) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "CODESIFT_NATS_URL": nats_url,
        "CODESIFT_DATA_DIR": str(data_dir),
        "CODESIFT_LOG_PATH": str(log_path),
    }
    log = (data_dir / "telemetry.log").open("wb")
    return subprocess.Popen([sys.executable, "-m", "services.telemetry"], env=env, cwd=ROOT, stdout=log, stderr=log)


async def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the gateway exited with {process.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        writer.close()
        return
    raise SystemExit(f"the gateway did not listen on {port} within {timeout:g} s")


async def stream_count(nats_url: str) -> int:
    nc = await nats.connect(nats_url)
    try:
        return int((await nc.jetstream().stream_info("FEEDBACK")).state.messages)
    finally:
        await nc.close()


async def log_lags(log_path: Path, accepted_at: dict[str, float], timeout: float = 60) -> list[float]:
    """Seconds from each 202 to the moment its line is in the log (read every 5 ms)."""
    lags: dict[str, float] = {}
    offset = 0
    deadline = time.monotonic() + timeout
    pending = b""
    while len(lags) < len(accepted_at) and time.monotonic() < deadline:
        if log_path.exists():
            with log_path.open("rb") as f:
                f.seek(offset)
                chunk = f.read()
            offset += len(chunk)
            seen = time.time()
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                event_id = json.loads(line).get("event_id")
                if event_id in accepted_at and event_id not in lags:
                    lags[event_id] = seen - accepted_at[event_id]
        await asyncio.sleep(0.005)
    missing = len(accepted_at) - len(lags)
    if missing:
        print(f"\n{missing} accepted events were not in {log_path} after {timeout:g} s")
    return list(lags.values())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def report(title: str, clients: int, run: Run, stored: int | None) -> None:
    accepted = run.statuses[202]
    errors = sum(run.statuses.values()) - accepted
    print(f"\n### {title}\n")
    print("| clients | seconds | accepted (202) | events/s | p50 ms | p99 ms | errors | in the stream |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    print(
        f"| {clients} | {run.seconds:.1f} | {accepted} | {accepted / run.seconds:,.0f} "
        f"| {percentile(run.latencies, 0.5) * 1000:.2f} | {percentile(run.latencies, 0.99) * 1000:.2f} "
        f"| {errors} {dict(run.statuses - Counter({202: accepted})) or ''} | {stored if stored is not None else '-'} |"
    )


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="codesift-bench-") as tmp:
        data_dir = Path(tmp)
        server: NatsServer = start_nats(data_dir / "nats")
        port = free_port()
        gateway = start_gateway(server.url, data_dir, port, args.workers)
        processes = [gateway]
        try:
            await wait_for_port(port, gateway)
            await load(port, args.clients, 1.0, "warmup")
            before = await stream_count(server.url)
            run = await load(port, args.clients, args.seconds, "run")
            stored = await stream_count(server.url) - before
            report(f"gateway: POST {URL}, {args.workers} worker(s), {os.cpu_count()} cores", args.clients, run, stored)
            if stored != run.statuses[202]:
                print(f"\n**{run.statuses[202]} events were accepted but {stored} are in the stream**")

            if importlib.util.find_spec("services.telemetry") is None:
                print("\nEnd-to-end lag not measured: there is no telemetry service (services/telemetry) yet.")
                return
            log_path = data_dir / "logs" / "queries.jsonl"
            telemetry = start_telemetry(server.url, data_dir, log_path)
            processes.append(telemetry)
            await log_lags(log_path, run.accepted_at)  # the backlog of the first run, written first
            paced = await load(port, args.clients, args.seconds, "lag", rate=args.lag_rate)
            lags = await log_lags(log_path, paced.accepted_at)
            report(f"paced run for the lag ({args.lag_rate:g} events/s offered)", args.clients, paced, None)
            print("\n| end-to-end lag, 202 -> log line | events | p50 ms | p99 ms | max ms |")
            print("| --- | --- | --- | --- | --- |")
            print(
                f"| telemetry service | {len(lags)} | {statistics.median(lags) * 1000:.1f} "
                f"| {percentile(lags, 0.99) * 1000:.1f} | {max(lags) * 1000:.1f} |"
            )
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=30)
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=1, help="gateway worker processes")
    parser.add_argument("--lag-rate", type=float, default=500.0, help="events/s offered while measuring lag")
    asyncio.run(main(parser.parse_args()))
