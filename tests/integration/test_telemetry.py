"""The telemetry service against a real nats-server: joins, exactly-once lines, dead letters, and
no loss while nats-server restarts and the service is killed."""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import nats
import pytest
from faststream import TestApp
from nats.js import JetStreamContext

from services.telemetry.app import create_app
from services.telemetry.dead_letters import ORIGINAL_SEQUENCE, ORIGINAL_SUBJECT, REASON
from services.telemetry.handlers import DURABLE, FEEDBACK_STREAM
from services.telemetry.settings import TelemetrySettings
from shared import subjects
from shared.schemas import Impression, ShownResult, encoder
from shared.streams import bootstrap
from tests.conftest import ROOT, NatsServer, start_nats

ORIGINAL_KEYS = ["event_id", "query", "doc_id", "rating", "source", "timestamp"]


def event(event_id: str, **extra: object) -> dict:
    return {
        "event_id": event_id,
        "query": "where is the token validated",
        "doc_id": "auth.py:10-40",
        "rating": 5,
        "source": "click",
        "timestamp": "2026-11-25T12:00:00Z",
    } | extra


def impression(query_id: str) -> Impression:
    return Impression(
        query_id=query_id,
        query="where is the token validated",
        repo="demo",
        k=10,
        results=[
            ShownResult(1, "auth.py:10-40", "demo", "auth.py", 0.9),
            ShownResult(2, "jwt.py:1-30", "demo", "jwt.py", 0.4, "cd" * 20, "Jwt.check", "0123abcd" * 3),
        ],
        reranker="none (fusion order)",
        model_version=None,
        index_version="idx-1",
        replica_id="search-1",
        timestamp=1_790_000_000.0,
    )


async def publish(js: JetStreamContext, body: dict | bytes, msg_id: str | None = None) -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    msg_id = msg_id or (body["event_id"] if isinstance(body, dict) else uuid.uuid4().hex)
    await js.publish(subjects.TELEMETRY_FEEDBACK, data, headers={"Nats-Msg-Id": msg_id})


def read_log(path: Path) -> list[dict]:
    return [json.loads(raw) for raw in path.read_bytes().splitlines()] if path.exists() else []


async def wait_for(path: Path, event_ids: set[str], timeout: float = 15) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = read_log(path)
        if event_ids <= {line["event_id"] for line in lines}:
            return lines
        await asyncio.sleep(0.02)
    raise TimeoutError(
        f"not logged within {timeout} s: {event_ids - {x['event_id'] for x in read_log(path)}}"
    )


@pytest.fixture
async def js(nats_server: NatsServer):
    nc = await nats.connect(nats_server.url)
    yield await bootstrap(nc)
    await nc.close()


@pytest.fixture
def config(nats_server: NatsServer, tmp_path: Path) -> TelemetrySettings:
    return TelemetrySettings(
        nats_url=nats_server.url,
        data_dir=tmp_path / "data",
        telemetry_batch_wait=0.02,
        telemetry_retry_delay=0.2,
        telemetry_join_attempts=3,
    )


def log_path(config: TelemetrySettings) -> Path:
    return config.data_dir / "logs" / "queries.jsonl"


async def test_events_are_logged_once_each_joined_with_their_impression(js, config):
    shown_first, shown_late, never_shown = (uuid.uuid4().hex for _ in range(3))
    await js.publish(subjects.impression_subject(shown_first), encoder.encode(impression(shown_first)))
    async with TestApp(create_app(config)):
        await publish(js, event("click", query_id=shown_first, position=1))
        await publish(js, event("down", query_id=shown_first, position=2, doc_id="jwt.py:1-30", rating=1,
                                source="thumbs_down"))  # fmt: skip
        await publish(js, event("late", query_id=shown_late, position=1))
        await publish(js, event("made-up", query_id=never_shown, position=1))
        await publish(js, event("plain", timestamp=1_790_000_000))
        await asyncio.sleep(0.1)  # the impression arrives after the feedback that refers to it
        await js.publish(subjects.impression_subject(shown_late), encoder.encode(impression(shown_late)))
        lines = await wait_for(log_path(config), {"click", "down", "late", "made-up", "plain"})
        await asyncio.sleep(0.5)  # nothing else arrives

    lines = read_log(log_path(config))
    by_id = {line["event_id"]: line for line in lines}
    assert len(lines) == len(by_id) == 5
    for line in lines:
        assert list(line)[:6] == ORIGINAL_KEYS
    assert by_id["click"]["joined"] and by_id["down"]["joined"] and by_id["late"]["joined"]
    assert by_id["down"]["rating"] == 1 and by_id["down"]["position"] == 2
    # the rated chunk's anchors, copied from the impression (a replica of before stamped none)
    down = by_id["down"]
    assert (down["content_hash"], down["symbol"], down["fingerprint"]) == (
        "cd" * 20,
        "Jwt.check",
        "0123abcd" * 3,
    )
    assert (
        "symbol" not in by_id["click"] and by_id["late"]["impression"]["results"][1]["symbol"] == "Jwt.check"
    )
    assert [r["doc_id"] for r in by_id["late"]["impression"]["results"]] == ["auth.py:10-40", "jwt.py:1-30"]
    assert by_id["late"]["impression"]["index_version"] == "idx-1"
    assert by_id["made-up"]["impression"] is None and by_id["made-up"]["joined"] is False
    assert by_id["made-up"]["query_id"] == never_shown
    assert by_id["plain"]["impression"] is None and by_id["plain"]["timestamp"] == 1_790_000_000
    assert by_id["click"]["timestamp"] == "2026-11-25T12:00:00Z"
    assert not any("client_ip" in line or "user_agent" in line for line in lines)


async def test_an_event_id_seen_before_is_not_written_again_even_after_a_restart(js, config):
    async with TestApp(create_app(config)):
        await publish(js, event("once"))
        await wait_for(log_path(config), {"once"})
        # the same event outside JetStream's duplicate window: a new message id
        await publish(js, event("once"), msg_id="retry-1")
        await publish(js, event("marker-1"))
        await wait_for(log_path(config), {"marker-1"})

    async with TestApp(create_app(config)):
        await publish(js, event("once"), msg_id="retry-2")
        await publish(js, event("marker-2"))
        await wait_for(log_path(config), {"marker-2"})

    ids = [line["event_id"] for line in read_log(log_path(config))]
    assert sorted(ids) == ["marker-1", "marker-2", "once"]
    consumer = await js.consumer_info(FEEDBACK_STREAM, DURABLE)
    assert consumer.num_pending == 0 and consumer.num_ack_pending == 0  # every copy was acknowledged


async def test_poison_messages_go_to_the_dead_letters_without_blocking_the_stream(js, config):
    poison = {
        b"this is not json": "body: JSON is malformed",
        json.dumps(event("bad-rating", rating=9)).encode(): "rating: Expected `int` <= 5",
        json.dumps(event("empty-note", source="note", doc_id="")).encode(): "note: a note event needs",
        json.dumps(event("stranger", color="red")).encode(): "color: Object contains unknown field",
    }
    async with TestApp(create_app(config)):
        for body in poison:
            await publish(js, body)
        await publish(js, event("after"))
        lines = await wait_for(log_path(config), {"after"})
        deadline = time.monotonic() + 10
        while (await js.stream_info("DEADLETTER")).state.messages < len(
            poison
        ) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        consumer = await js.consumer_info(FEEDBACK_STREAM, DURABLE)

    assert [line["event_id"] for line in lines] == ["after"]
    assert consumer.num_pending == 0 and consumer.num_ack_pending == 0 and consumer.num_redelivered == 0
    sequences = {}
    for seq in range(1, len(poison) + 1):
        dead = await js.get_msg("DEADLETTER", seq)
        assert dead.headers is not None
        assert dead.headers[REASON].startswith(poison[dead.data]), dead.headers[REASON]
        assert dead.headers[ORIGINAL_SUBJECT] == subjects.TELEMETRY_FEEDBACK
        sequences[dead.data] = int(dead.headers[ORIGINAL_SEQUENCE])
    assert sorted(sequences.values()) == [1, 2, 3, 4]  # the order they were published in
    assert (await js.stream_info("DEADLETTER")).state.messages == len(poison)


async def test_a_trickle_of_events_is_logged_promptly(js, config):
    """Events spaced out so that fetches keep coming back empty: none waits for a redelivery."""
    assert config.telemetry_ack_wait >= 10  # a batch dropped before its ack would show as a 10 s lag
    path = log_path(config)
    published: dict[str, float] = {}
    logged: dict[str, float] = {}

    def note_arrivals() -> None:
        now = time.monotonic()
        for line in read_log(path):
            logged.setdefault(line["event_id"], now)

    async with TestApp(create_app(config)):
        for i in range(200):
            published[f"t{i}"] = time.monotonic()
            await publish(js, event(f"t{i}"))
            await asyncio.sleep(0.01)
            note_arrivals()
        deadline = time.monotonic() + 15
        while len(logged) < len(published) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
            note_arrivals()
    slowest = max(logged.get(i, math.inf) - published[i] for i in published)
    assert slowest < 2.0, f"slowest event took {slowest:.1f} s"


# ---------------------------------------------------------------- the loss test

LOSS_EVENTS = 5000


class ServiceProcess:
    """`python -m services.telemetry` as the supervisor runs it."""

    def __init__(self, env: dict[str, str], output: Path):
        self.env = env
        self.output = output
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.output.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.telemetry"], env=self.env, cwd=ROOT, stdout=out, stderr=out
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)


async def publish_until_acked(js: JetStreamContext, body: dict) -> int:
    """What the gateway does: answer 202 only once JetStream has the event. Returns the retries."""
    data = json.dumps(body).encode()
    retries = 0
    while True:
        try:
            await js.publish(
                subjects.TELEMETRY_FEEDBACK, data, timeout=1.0, headers={"Nats-Msg-Id": body["event_id"]}
            )
            return retries
        except (nats.errors.Error, TimeoutError):
            retries += 1
            await asyncio.sleep(0.05)


@pytest.mark.slow
async def test_no_event_is_lost_or_doubled_through_a_nats_restart_and_a_killed_service(tmp_path: Path):
    servers = [start_nats(tmp_path / "nats")]
    port = servers[0].port
    data_dir = tmp_path / "data"
    service = ServiceProcess(
        os.environ
        | {
            "CODESIFT_NATS_URL": servers[0].url,
            "CODESIFT_DATA_DIR": str(data_dir),
            "CODESIFT_TELEMETRY_ACK_WAIT": "2",  # what the killed process held comes back after 2 s
            "CODESIFT_LOG_ROTATE_BYTES": "262144",  # rotates a few times along the way
            "CODESIFT_LOG_KEEP": "20",
            "PYTHONUNBUFFERED": "1",
        },
        tmp_path / "telemetry.out",
    )
    expected = [f"loss-{i:05d}" for i in range(LOSS_EVENTS)]
    retries: list[int] = []
    nc = await nats.connect(servers[0].url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    try:
        js = await bootstrap(nc)
        service.start()

        log = data_dir / "logs" / "queries.jsonl"
        files = [log, *(log.with_name(f"{log.name}.{i}") for i in range(1, 21))]

        def all_lines() -> list[bytes]:
            return [raw for f in files if f.exists() for raw in f.read_bytes().splitlines()]

        # The faults follow the stream, not the clock (a loaded machine starts a service in seconds):
        # the telemetry service is killed once it has logged some events and before the publisher is
        # a third of the way; nats-server goes down while the publisher still has events to send.
        published = 0
        telemetry_restarted, nats_down = asyncio.Event(), asyncio.Event()

        async def publisher() -> None:
            nonlocal published
            for start in range(0, LOSS_EVENTS, 10):  # ~1,000 events/s
                if start >= LOSS_EVENTS * 0.3:
                    await telemetry_restarted.wait()
                if start >= LOSS_EVENTS * 0.6:
                    await nats_down.wait()
                group = expected[start : start + 10]
                retries.extend(
                    await asyncio.gather(
                        *(publish_until_acked(js, event(i, timestamp=time.time())) for i in group)
                    )
                )
                published = start + len(group)
                await asyncio.sleep(0.01)

        async def until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
            deadline = time.monotonic() + timeout
            while not condition():
                assert time.monotonic() < deadline, f"timed out waiting until {what}"
                await asyncio.sleep(0.05)

        async def faults() -> None:
            await until(lambda: published >= LOSS_EVENTS * 0.3 and len(all_lines()) > 0, "events are logged")
            service.kill()
            await asyncio.sleep(0.3)
            service.start()  # as the supervisor would
            telemetry_restarted.set()
            await until(lambda: published >= LOSS_EVENTS * 0.6, "the publisher is past 60%")
            servers[0].stop()
            nats_down.set()  # the publisher goes on into the outage
            await asyncio.sleep(1.0)
            servers.append(await asyncio.to_thread(start_nats, tmp_path / "nats", port))

        await asyncio.gather(publisher(), faults())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(all_lines()) < LOSS_EVENTS:
            await asyncio.sleep(0.1)
        await asyncio.sleep(2.5)  # past the ack wait: a redelivered copy would have been written by now
        service.stop()

        output = service.output.read_text()
        starts = [int(n) for n in re.findall(r"(\d+) events already logged", output)]
        assert len(starts) == 2 and 0 < starts[1] < LOSS_EVENTS, output[-3000:]  # killed mid-stream
        assert sum(retries) > 0  # the publisher saw nats-server go away mid-stream
        assert all(f.read_bytes().endswith(b"\n") for f in files if f.exists() and f.stat().st_size)
        lines = all_lines()
        ids = Counter(json.loads(raw)["event_id"] for raw in lines)  # a torn line would not parse
        assert sorted(ids) == expected, output[-3000:]
        assert len(lines) == LOSS_EVENTS and max(ids.values()) == 1
        assert log.with_name(f"{log.name}.1").exists()
    finally:
        service.stop()
        await nc.close()
        for server in servers:
            server.stop()
