"""Hostile payloads on every command, event, feedback and request subject of a real stack.

Each subject gets a fixed corpus from tests/hostile_payloads.py (random bytes, cut-short JSON,
wrong types, unknown tags, 200 KB fields, non-objects), published as any client could, to the
services `codesift up` runs. Then:

- commands: each payload is dead-lettered on codesift.cmd.dead with its reason (the field and
  the problem, as shared.validation words it); a valid command sent after them is run to its end;
- feedback: each payload is in the DEADLETTER stream with its reason; a valid event after them
  is written to the log;
- events: the evaluator's and promoter's consumers step over them and take a valid event after
  them; the replicas ignore malformed broadcasts with a log line and keep serving;
- requests: every bad search, candidates or documents request is answered with an error naming
  the field; ping and logs answer whatever the body;
- afterwards no consumer has anything pending or unacknowledged, and no service has restarted.

    HOSTILE_PER_SUBJECT=100 PYTHONPATH=$PWD .venv/bin/pytest tests/integration/hostile/test_bus_payloads.py
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import psutil
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from services.telemetry.recording import parse as parse_feedback
from shared import subjects
from shared.bus import connect
from shared.dead_letters import REASON, header_value
from shared.jobs import job_state
from shared.schemas import (
    JOB_STATES_FINAL,
    CandidatesReply,
    CandidatesRequest,
    Command,
    DocumentsReply,
    DocumentsRequest,
    EvaluateCommand,
    FeedbackEvent,
    IndexCommand,
    IndexUpdated,
    MineCommand,
    ModelEvaluated,
    ModelTrained,
    ModelUpdated,
    PromoteCommand,
    ReplicaInfo,
    RollbackCommand,
    SearchReply,
    SearchRequest,
    TrainCommand,
    command_decoder,
    encoder,
    event_decoder,
)
from shared.settings import Settings
from shared.validation import decode
from tests.hostile_payloads import examples, hostile, huge_field, valid
from tests.integration.hostile.stack_setup import FIXTURE_REPO, REPO_NAME
from tests.integration.stack import Stack

pytestmark = pytest.mark.slow

# hostile payloads drawn for each subject (12 in make test; HOSTILE_PER_SUBJECT=100 for a longer run)
PER_SUBJECT = int(os.environ.get("HOSTILE_PER_SUBJECT", "12"))
SETTLE_S = 90.0  # how long a service may take to step over them and run the valid message
NO_SUCH_MODEL = "cross-encoder-hostile-20000101-000000"


def corpus(kind: type, n: int) -> list[bytes]:
    """`n` hostile payloads, and always a few with a 200 KB field: a refused value quoted whole in a
    reason or a log line once stalled a service (the supervisor stopped reading its output)."""
    return examples(hostile(kind), n) + examples(huge_field(kind), 3)


@pytest.fixture(scope="module")
def service_pids(stack: Stack) -> Iterator[dict[int, str]]:
    """The stack's service processes before the payloads; afterwards none may have been restarted."""
    before = _services(stack)
    yield before
    after = _services(stack)
    assert after == before, f"services restarted: {set(before.items()) ^ set(after.items())}"
    assert "exited with code" not in stack.output(), stack.output()[-3000:]


def _services(stack: Stack) -> dict[int, str]:
    children = psutil.Process(stack.process.pid).children()
    return {p.pid: " ".join(p.cmdline()[1:4]) for p in children}


async def _bus(stack: Stack, kind: str | None) -> Client:
    """The CLI's connection (how any client with the stack's files connects), or the user of the
    process kind that may publish the subject under test: the nats-server refuses anyone else."""
    if kind is None:
        return await connect(Settings(data_dir=stack.data_dir), "hostile-payloads")
    return await stack.nats_connect(kind)


def run(
    stack: Stack, scenario: Callable[[Client, JetStreamContext], object], kind: str | None = None
) -> None:
    async def main() -> None:
        nc = await _bus(stack, kind)
        try:
            await scenario(nc, nc.jetstream())  # type: ignore[misc]
        finally:
            await nc.close()

    asyncio.run(main())


async def until(check: Callable[[], object], what: str, timeout: float = SETTLE_S):
    """Await `check()` until it is truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()  # type: ignore[misc]
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not after {timeout:.0f} s")
        await asyncio.sleep(0.25)


async def nothing_pending(js: JetStreamContext, stream: str, durable: str) -> None:
    async def settled() -> bool:
        info = await js.consumer_info(stream, durable)
        return info.num_pending == 0 and info.num_ack_pending == 0

    await until(settled, f"consumer {stream}/{durable} still has messages pending")


async def stream_messages(js: JetStreamContext, stream: str, first: int, subject: str) -> list:
    """Messages of `stream` on `subject` from sequence `first` on."""
    last = (await js.stream_info(stream)).state.last_seq
    found = []
    for seq in range(first, last + 1):
        try:
            msg = await js.get_msg(stream, seq)
        except Exception:  # deleted meanwhile (limits): not one of ours
            continue
        if msg.subject == subject:
            found.append(msg)
    return found


# ---------------------------------------------------------------- commands

COMMANDS: list[tuple[str, type[Command], str, Callable[[str], Command]]] = [
    (
        subjects.CMD_INDEX,
        IndexCommand,
        "indexer",
        lambda job: IndexCommand(job_id=job, path=str(FIXTURE_REPO), name=REPO_NAME),
    ),
    (
        subjects.CMD_MINE,
        MineCommand,
        "trainer-mine",
        lambda job: MineCommand(job_id=job, source="golden", golden="/nonexistent/golden.json"),
    ),
    (
        subjects.CMD_TRAIN,
        TrainCommand,
        "trainer-train",
        lambda job: TrainCommand(job_id=job, min_triplets=10**6),
    ),
    (
        subjects.CMD_EVALUATE,
        EvaluateCommand,
        "evaluator-evaluate",
        lambda job: EvaluateCommand(job_id=job, model=NO_SUCH_MODEL),
    ),
    (
        subjects.CMD_PROMOTE,
        PromoteCommand,
        "promoter-promote",
        lambda job: PromoteCommand(job_id=job, model=NO_SUCH_MODEL),
    ),
    (subjects.CMD_ROLLBACK, RollbackCommand, "promoter-rollback", lambda job: RollbackCommand(job_id=job)),
]


def command_reason(payload: bytes, kind: type[Command]) -> str | None:
    """The reason the service gives for refusing `payload` (as its handler words it); None: it runs."""
    command, problem = decode(command_decoder, payload)
    if problem is not None:
        return f"{problem.field}: {problem.message}"
    return None if isinstance(command, kind) else "not a"


@pytest.mark.parametrize(
    ("subject", "kind", "durable", "probe"), COMMANDS, ids=[kind.__name__ for _, kind, _, _ in COMMANDS]
)
def test_hostile_commands_are_dead_lettered_with_their_reason(
    stack: Stack, service_pids, subject: str, kind: type[Command], durable: str, probe
):
    payloads = [p for p in corpus(kind, PER_SUBJECT) if command_reason(p, kind) is not None]
    assert len(payloads) >= PER_SUBJECT // 2

    async def scenario(nc: Client, js: JetStreamContext) -> None:
        first = (await js.stream_info("COMMANDS")).state.last_seq + 1
        for payload in payloads:
            await js.publish(subject, payload)
        valid_command = probe(f"hostile-{kind.__name__.lower()}-{time.time_ns()}")
        await js.publish(
            subject, encoder.encode(valid_command), headers={"Nats-Msg-Id": valid_command.job_id}
        )

        async def ended():
            state = await job_state(js, valid_command.job_id)
            return state if state is not None and state.state in JOB_STATES_FINAL else None

        state = await until(ended, f"the valid {kind.__name__} after the hostile ones did not end")
        if kind is IndexCommand:
            assert state.state == "succeeded", state
        else:
            assert state.message, state  # failed or succeeded, it says what happened

        async def all_dead() -> list:
            dead = await stream_messages(js, "COMMANDS", first, subjects.CMD_DEAD_LETTER)
            return dead if len(dead) >= len(payloads) else []

        dead = await until(all_dead, f"not every hostile {kind.__name__} was dead-lettered")
        got = Counter((m.data or b"", (m.headers or {}).get(REASON, "")) for m in dead)
        for payload in payloads:
            reason = header_value(command_reason(payload, kind) or "")
            matching = [
                r for (body, r), n in got.items() if body == payload and n > 0 and r.startswith(reason)
            ]
            assert matching, f"{payload[:80]!r}: no dead letter with reason {reason!r}"
            got[(payload, matching[0])] -= 1
        await nothing_pending(js, "COMMANDS", durable)

    run(stack, scenario)


# ---------------------------------------------------------------- feedback


def test_hostile_feedback_is_dead_lettered_and_valid_feedback_still_logged(stack: Stack, service_pids):
    payloads = [
        p for p in examples(hostile(FeedbackEvent), PER_SUBJECT * 2) if isinstance(parse_feedback(p), str)
    ]
    assert len(payloads) >= PER_SUBJECT

    async def scenario(nc: Client, js: JetStreamContext) -> None:
        first = (await js.stream_info("DEADLETTER")).state.last_seq + 1
        for n, payload in enumerate(payloads):
            await js.publish(subjects.TELEMETRY_FEEDBACK, payload, headers={"Nats-Msg-Id": f"hostile-{n}"})
        event = FeedbackEvent(
            event_id=f"hostile-probe-{time.time_ns()}",
            query="where is the password hashed",
            doc_id="auth.py:1-10",
            rating=5,
            source="click",
            timestamp=time.time(),
        )
        await js.publish(
            subjects.TELEMETRY_FEEDBACK, encoder.encode(event), headers={"Nats-Msg-Id": event.event_id}
        )
        log = stack.data_dir / "logs" / "queries.jsonl"

        async def logged() -> bool:
            return log.exists() and event.event_id in log.read_text()

        await until(logged, "the valid event after the hostile ones is not in the log")

        async def all_dead() -> list:
            dead = await stream_messages(js, "DEADLETTER", first, subjects.TELEMETRY_DEAD_LETTER)
            return dead if len(dead) >= len(payloads) else []

        dead = await until(all_dead, "not every hostile feedback message was dead-lettered")
        got = Counter((m.data or b"", (m.headers or {}).get(REASON)) for m in dead)
        for payload in payloads:
            reason = header_value(str(parse_feedback(payload)))
            assert got[(payload, reason)] > 0, f"{payload[:80]!r}: no dead letter with reason {reason!r}"
            got[(payload, reason)] -= 1
        await nothing_pending(js, "FEEDBACK", "telemetry")

    run(stack, scenario)


# ---------------------------------------------------------------- events

EVENT_SUBJECTS = [
    (subjects.MODEL_TRAINED, ModelTrained, "evaluator-trained"),
    (subjects.MODEL_EVALUATED, ModelEvaluated, "promoter-evaluated"),
    (subjects.MODEL_UPDATED, ModelUpdated, None),  # replicas only (core subscription)
    (subjects.INDEX_UPDATED, IndexUpdated, None),
]
# who may publish each (codesift/nats_config.py): a buggy or compromised publisher sends these
PUBLISHER = {
    subjects.MODEL_TRAINED: "trainer",
    subjects.MODEL_EVALUATED: "evaluator",
    subjects.MODEL_UPDATED: "promoter",
    subjects.INDEX_UPDATED: "indexer",
}


@pytest.mark.parametrize(
    ("subject", "kind", "durable"), EVENT_SUBJECTS, ids=[kind.__name__ for _, kind, _ in EVENT_SUBJECTS]
)
def test_hostile_events_are_stepped_over(stack: Stack, service_pids, subject: str, kind: type, durable):
    payloads = [
        p for p in examples(hostile(kind), PER_SUBJECT) if not isinstance(decode(event_decoder, p)[0], kind)
    ]
    probe = examples(valid(kind), 1)[0]
    probe = msgspec.structs.replace(probe, version=NO_SUCH_MODEL) if kind is not ModelUpdated else probe

    async def scenario(nc: Client, js: JetStreamContext) -> None:
        for payload in payloads:
            await js.publish(subject, payload)
        if kind is ModelUpdated:  # the valid one puts the replicas back on no reranker
            probe_event = ModelUpdated(timestamp=time.time(), version=None, sha256=None)
        elif kind is IndexUpdated:
            probe_event = None  # a valid pointer to no snapshot proves nothing more: search below
        else:
            probe_event = probe
        ack = await js.publish(subject, encoder.encode(probe_event)) if probe_event is not None else None
        if durable is not None and ack is not None:

            async def taken() -> bool:
                info = await js.consumer_info("EVENTS", durable)
                return info.ack_floor.stream_seq >= ack.seq and info.num_ack_pending == 0

            await until(taken, f"{durable} did not take the valid {kind.__name__} after the hostile ones")
            await nothing_pending(js, "EVENTS", durable)
        searcher = await _bus(stack, None)  # the publisher may not search: ask as the CLI
        try:
            await replicas_still_serve(searcher)
        finally:
            await searcher.close()

    run(stack, scenario, PUBLISHER[subject])
    assert "ignored a malformed" in stack.output() or durable is not None


async def replicas_still_serve(nc: Client) -> None:
    request = SearchRequest(query="where is the password hashed", k=3)
    reply = msgspec.json.decode(
        (await nc.request(subjects.SEARCH_QUERY, encoder.encode(request), timeout=10)).data, type=SearchReply
    )
    assert reply.error is None and reply.response is not None and reply.response.results, reply


# ---------------------------------------------------------------- requests

REQUESTS = [
    (subjects.SEARCH_QUERY, SearchRequest, SearchReply, SearchRequest(query="password hashing", k=3)),
    (
        subjects.SEARCH_CANDIDATES,
        CandidatesRequest,
        CandidatesReply,
        CandidatesRequest(query="password", k=5),
    ),
    (subjects.SEARCH_DOCUMENTS, DocumentsRequest, DocumentsReply, DocumentsRequest(repo=REPO_NAME, limit=5)),
]


@pytest.mark.parametrize(
    ("subject", "kind", "reply_kind", "good"), REQUESTS, ids=[kind.__name__ for _, kind, _, _ in REQUESTS]
)
def test_hostile_requests_are_answered_with_the_field(
    stack: Stack, service_pids, subject, kind, reply_kind, good
):
    decoder = msgspec.json.Decoder(kind)
    payloads = [p for p in corpus(kind, PER_SUBJECT * 2) if decode(decoder, p)[1] is not None]
    assert len(payloads) >= PER_SUBJECT

    async def scenario(nc: Client, js: JetStreamContext) -> None:
        for payload in payloads:
            answer = await nc.request(subject, payload, timeout=10)
            reply = msgspec.json.decode(answer.data, type=reply_kind)
            expected = decode(decoder, payload)[1]
            assert reply.response is None and reply.error is not None, (payload[:80], reply)
            assert reply.error.field == expected.field, (payload[:80], reply.error, expected)
        answer = await nc.request(subject, encoder.encode(good), timeout=10)
        reply = msgspec.json.decode(answer.data, type=reply_kind)
        assert reply.error is None and reply.response is not None, reply

    run(stack, scenario)


@pytest.mark.parametrize("subject", [subjects.SEARCH_PING, subjects.TRAINER_LOGS])
def test_requests_without_a_body_ignore_any_body(stack: Stack, service_pids, subject: str):
    payloads = examples(hostile(SearchRequest), PER_SUBJECT)

    async def scenario(nc: Client, js: JetStreamContext) -> None:
        for payload in payloads:
            answer = await nc.request(subject, payload, timeout=10)
            if subject == subjects.SEARCH_PING:
                assert msgspec.json.decode(answer.data, type=ReplicaInfo).index_version
            else:
                assert isinstance(json.loads(answer.data), dict)

    run(stack, scenario)


def test_the_log_names_what_was_refused(stack: Stack, service_pids):
    """Runs last in this module: every service said in one line what it refused."""
    output = stack.output()
    assert "rejected" in output and "dead letter" in output, output[-3000:]
    assert Path(stack.data_dir / "logs" / "queries.jsonl").exists()
