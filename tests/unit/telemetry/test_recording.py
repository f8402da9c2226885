"""The recorder's decisions, with stand-ins for JetStream messages and the impression lookup."""

from __future__ import annotations

import datetime
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest

from services.telemetry.joining import Lookup
from services.telemetry.log_writer import LogWriter
from services.telemetry.recording import FeedbackRecorder
from shared import subjects
from shared.schemas import Impression, ShownResult
from tests.prometheus_samples import sample

SHOWN = "0123456789abcdef0123456789abcdef"
UNSHOWN = "ffffffffffffffffffffffffffffffff"


@dataclass
class StandInMsg:
    data: bytes
    num_delivered: int = 1
    seq: int = 1
    subject: str = subjects.TELEMETRY_FEEDBACK
    settled: list[tuple[str, float | None]] = field(default_factory=list)
    stored_at: float = field(default_factory=time.time)  # when JetStream stored it
    num_pending: int = 0

    @property
    def metadata(self) -> SimpleNamespace:
        return SimpleNamespace(
            num_delivered=self.num_delivered,
            sequence=SimpleNamespace(stream=self.seq),
            stream="FEEDBACK",
            timestamp=datetime.datetime.fromtimestamp(self.stored_at, datetime.UTC),
            num_pending=self.num_pending,
        )

    async def ack(self) -> None:
        self.settled.append(("ack", None))

    async def nak(self, delay: float | None = None) -> None:
        self.settled.append(("nak", delay))

    async def term(self) -> None:
        self.settled.append(("term", None))


class StandInJoiner:
    def __init__(self, found: dict[str, Impression], unavailable: set[str] = frozenset()):
        self.found, self.unavailable = found, set(unavailable)

    async def find_many(self, query_ids):
        wanted = set(query_ids)
        return Lookup({q: i for q, i in self.found.items() if q in wanted}, self.unavailable & wanted)


class StandInJetStream:
    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, dict[str, str]]] = []

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> None:
        self.published.append((subject, payload, headers))


def impression() -> Impression:
    return Impression(SHOWN, "q", None, 10, [ShownResult(1, "a.py:1-5", "demo", "a.py", 1.0)],
                      "none (fusion order)", None, "idx-1", "search-1", 1.0)  # fmt: skip


def msg(event_id: str, delivered: int = 1, **extra: object) -> StandInMsg:
    body = {"event_id": event_id, "query": "q", "doc_id": "a.py:1-5", "rating": 5, "source": "click",
            "timestamp": 1_790_000_000} | extra  # fmt: skip
    return StandInMsg(json.dumps(body).encode(), num_delivered=delivered)


@pytest.fixture
def writer(tmp_path: Path):
    w = LogWriter(tmp_path / "queries.jsonl", rotate_bytes=1 << 20, keep=2)
    w.open()
    yield w
    w.close()


def recorder(
    writer: LogWriter, joiner: StandInJoiner, js: StandInJetStream | None = None
) -> FeedbackRecorder:
    return FeedbackRecorder(writer, joiner, js or StandInJetStream(), join_attempts=3, retry_delay=0.5)


def logged(writer: LogWriter) -> dict[str, dict]:
    return {d["event_id"]: d for d in map(json.loads, writer.path.read_bytes().splitlines())}


async def test_an_unjoined_event_waits_for_its_impression_until_its_last_attempt(writer):
    rec = recorder(writer, StandInJoiner({SHOWN: impression()}))
    joined, early, last = (
        msg("j", query_id=SHOWN),
        msg("e", 2, query_id=UNSHOWN),
        msg("l", 3, query_id=UNSHOWN),
    )
    report = await rec.record([joined, early, last])
    assert (report.written, report.held) == (2, 1)
    assert early.settled == [("nak", 0.5)]
    assert joined.settled == last.settled == [("ack", None)]
    lines = logged(writer)
    assert lines["j"]["joined"] and lines["j"]["impression"]["results"] == [
        {"position": 1, "doc_id": "a.py:1-5"}
    ]
    assert lines["l"]["joined"] is False and lines["l"]["impression"] is None
    assert "e" not in lines


async def test_a_failed_lookup_holds_the_event_even_at_its_last_attempt(writer):
    held = msg("h", 9, query_id=UNSHOWN)
    report = await recorder(writer, StandInJoiner({}, {UNSHOWN})).record([held])
    assert report.held == 1 and held.settled == [("nak", 0.5)]
    assert not writer.path.read_bytes()


async def test_copies_of_one_event_are_written_once_and_all_acknowledged(writer):
    rec = recorder(writer, StandInJoiner({}))
    first = await rec.record([msg("a"), msg("a"), msg("b")])
    later = msg("a")
    second = await rec.record([later])
    assert (first.written, first.duplicates, second.written, second.duplicates) == (2, 1, 0, 1)
    assert later.settled == [("ack", None)]
    assert sorted(logged(writer)) == ["a", "b"]


async def test_nothing_is_acknowledged_when_the_log_cannot_be_written(writer, monkeypatch):
    def full(records):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer, "append", full)
    messages = [msg("a"), msg("b")]
    report = await recorder(writer, StandInJoiner({})).record(messages)
    assert (report.written, report.held) == (0, 2)
    assert all(m.settled == [("nak", 0.5)] for m in messages)


async def test_poison_is_dead_lettered_with_its_reason_and_terminated(writer):
    js = StandInJetStream()
    bad = msg("bad", rating=9)
    bad.seq = 42
    report = await recorder(writer, StandInJoiner({}), js).record([bad, msg("good")])
    assert (report.dead, report.written) == (1, 1)
    assert bad.settled == [("term", None)]
    [(subject, payload, headers)] = js.published
    assert subject == subjects.TELEMETRY_DEAD_LETTER and payload == bad.data
    assert headers["Codesift-Reason"] == "rating: Expected `int` <= 5"
    assert headers["Codesift-Sequence"] == "42" and headers["Nats-Msg-Id"] == "FEEDBACK:42"


async def test_what_the_recorder_did_is_counted_and_the_lag_runs_from_storage(writer):
    names = [f"codesift_feedback_{what}_total" for what in ("stored", "duplicates", "held", "dead_lettered")]
    lag = "codesift_telemetry_lag_seconds"
    before = {name: sample(name) for name in [*names, f"{lag}_count", f"{lag}_sum"]}
    before_fast = sample(f"{lag}_bucket", le="1.0")
    old = msg("old")
    old.stored_at = time.time() - 2.0  # stored in JetStream two seconds ago
    last = msg("bad", rating=9)
    last.num_pending = 7
    batch = [msg("a"), msg("a"), old, msg("early", 2, query_id=UNSHOWN), last]
    report = await recorder(writer, StandInJoiner({}), StandInJetStream()).record(batch)
    assert (report.written, report.duplicates, report.held, report.dead) == (2, 1, 1, 1)
    moved = [sample(name) - before[name] for name in names]
    assert moved == [2, 1, 1, 1]
    assert sample(f"{lag}_count") - before[f"{lag}_count"] == 2  # one per line written
    assert 2.0 <= sample(f"{lag}_sum") - before[f"{lag}_sum"] < 3.0
    assert sample(f"{lag}_bucket", le="1.0") - before_fast == 1  # "a" at once, "old" after 2 s
    assert sample("codesift_telemetry_pending_messages") == 7  # as the batch's last message said


async def test_a_doc_id_leaving_its_repository_is_dead_lettered_naming_doc_id(writer):
    """Events published on the bus directly skip the gateway: the telemetry service checks them too."""
    js = StandInJetStream()
    bad = [
        msg("up", doc_id="../../etc/passwd:1-2"),
        msg("abs", doc_id="/etc/shadow:1-1"),
        msg("nul", doc_id="a\0:1-2"),
    ]
    report = await recorder(writer, StandInJoiner({}), js).record([*bad, msg("good")])
    assert (report.dead, report.written) == (3, 1)
    reasons = [headers["Codesift-Reason"] for _, _, headers in js.published]
    assert reasons == [
        "doc_id: the path '../../etc/passwd' climbs out of its root with '..'",
        "doc_id: the path '/etc/shadow' is an absolute path; a path relative to its root is expected",
        "doc_id: the path 'a\\x00' contains a NUL byte",
    ]
    assert set(logged(writer)) == {"good"}
