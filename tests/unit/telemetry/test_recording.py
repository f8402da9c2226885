"""The recorder's decisions, with stand-ins for JetStream messages and the impression lookup."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest

from services.telemetry.joining import Lookup
from services.telemetry.log_writer import LogWriter
from services.telemetry.recording import FeedbackRecorder
from shared import subjects
from shared.schemas import Impression, ShownResult

SHOWN = "0123456789abcdef0123456789abcdef"
UNSHOWN = "ffffffffffffffffffffffffffffffff"


@dataclass
class StandInMsg:
    data: bytes
    num_delivered: int = 1
    seq: int = 1
    subject: str = subjects.TELEMETRY_FEEDBACK
    settled: list[tuple[str, float | None]] = field(default_factory=list)

    @property
    def metadata(self) -> SimpleNamespace:
        return SimpleNamespace(
            num_delivered=self.num_delivered, sequence=SimpleNamespace(stream=self.seq), stream="FEEDBACK"
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
