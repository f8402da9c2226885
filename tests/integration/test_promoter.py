"""The promoter against a real nats-server: automatic promotion, refusals, manual promote, rollback,
redelivery, and an archive that is not the one the trainer announced."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import nats
import pytest
from faststream import TestApp
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, NotFoundError

from services.promoter.app import create_app
from services.promoter.settings import PromoterSettings
from shared import subjects
from shared.artifacts import MANIFEST, file_hashes, put_model
from shared.jobs import job_state
from shared.schemas import (
    JOB_STATES_FINAL,
    JobProgress,
    ModelEvaluated,
    ModelPointer,
    ModelTrained,
    ModelUpdated,
    PromotionDecision,
    encoder,
    event_decoder,
)
from shared.streams import Buckets, bootstrap
from tests.conftest import NatsServer
from tests.prometheus_samples import sample
from tests.unit.promoter.evaluations import evaluation

V1 = "cross-encoder-codesift-20260101-000000"
V2 = "cross-encoder-codesift-20260102-000000"
V3 = "cross-encoder-codesift-20260103-000000"


@pytest.fixture
async def js(nats_server: NatsServer) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_server.url)
    yield await bootstrap(nc)
    await nc.close()


@pytest.fixture
def config(nats_server: NatsServer, tmp_path: Path) -> PromoterSettings:
    return PromoterSettings(nats_url=nats_server.url, data_dir=tmp_path / "data")


@pytest.fixture
async def promoter(js: JetStreamContext, config: PromoterSettings) -> AsyncIterator[None]:
    async with TestApp(create_app(config)):
        yield


async def redeliver_every_evaluation(js: JetStreamContext, config: PromoterSettings) -> None:
    """Restart the promoter with its consumer gone: every model.evaluated in EVENTS comes again."""
    await js.delete_consumer("EVENTS", "promoter-evaluated")
    last = (await js.get_last_msg("EVENTS", subjects.MODEL_EVALUATED)).seq
    async with TestApp(create_app(config)):
        await settled(js, last)


@pytest.fixture
def models(config: PromoterSettings) -> Path:
    return config.models


async def train(js: JetStreamContext, models: Path, version: str, feedback_events: int | None = None) -> str:
    """A small artifact with a valid manifest in the object store, announced like the trainer does
    (registered in KV registry "trained.<version>" too when `feedback_events` is given)."""
    directory = models / version
    directory.mkdir(parents=True)
    (directory / "model.onnx").write_bytes(f"weights of {version}".encode())
    (directory / "model.int8.onnx").write_bytes(f"int8 weights of {version}".encode())
    manifest = {"version": version, "files": file_hashes(directory)}
    (directory / MANIFEST).write_text(json.dumps(manifest))
    sha256 = await put_model(js, directory)
    trained = ModelTrained(time.time(), version, sha256, "train-1", {"bootstrap": 40}, manifest)
    if feedback_events is not None:
        trained = msgspec.structs.replace(trained, feedback_events=feedback_events)
        await (await js.key_value(Buckets.REGISTRY)).put(f"trained.{version}", encoder.encode(trained))
    await js.publish(subjects.MODEL_TRAINED, encoder.encode(trained))
    return sha256


async def publish_evaluated(js: JetStreamContext, event: ModelEvaluated) -> int:
    return (await js.publish(subjects.MODEL_EVALUATED, encoder.encode(event))).seq


async def events(js: JetStreamContext, subject: str) -> list:
    found, seq = [], 1
    while True:
        try:
            msg = await js.get_msg("EVENTS", seq, subject=subject, next=True)
        except NotFoundError:
            return found
        found.append(event_decoder.decode(msg.data))
        seq = msg.seq + 1


async def settled(js: JetStreamContext, seq: int, timeout: float = 10) -> None:
    """Wait until the promoter has acknowledged every model.evaluated up to stream sequence `seq`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            info = await js.consumer_info("EVENTS", "promoter-evaluated")
            if info.ack_floor and (info.ack_floor.stream_seq or 0) >= seq:
                return
        except NotFoundError:
            pass
        await asyncio.sleep(0.02)
    raise TimeoutError(f"model.evaluated #{seq} not acknowledged within {timeout} s")


async def pointer(js: JetStreamContext) -> ModelPointer | None:
    kv = await js.key_value(Buckets.REGISTRY)
    try:
        entry = await kv.get("model")
    except KeyNotFoundError:
        return None
    return msgspec.json.decode(entry.value, type=ModelPointer)


async def command(js: JetStreamContext, subject: str, body: dict, timeout: float = 10) -> JobProgress:
    await js.publish(subject, json.dumps(body).encode(), headers={"Nats-Msg-Id": body["job_id"]})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = await job_state(js, body["job_id"])
        if state is not None and state.state in JOB_STATES_FINAL:
            return state
        await asyncio.sleep(0.02)
    raise TimeoutError(f"job {body['job_id']} did not end within {timeout} s")


async def promote_auto(js: JetStreamContext, event: ModelEvaluated) -> None:
    await settled(js, await publish_evaluated(js, event))


async def test_a_passing_evaluation_is_promoted_broadcast_and_audited(js, promoter, models):
    sha256 = await train(js, models, V1)
    await promote_auto(js, evaluation(V1))

    production = await pointer(js)
    assert production is not None
    assert (production.version, production.sha256, production.previous) == (V1, sha256, [])
    [update] = await events(js, subjects.MODEL_UPDATED)
    assert isinstance(update, ModelUpdated)
    assert (update.version, update.sha256) == (V1, sha256)
    [decision] = await events(js, subjects.MODEL_DECISION)
    assert isinstance(decision, PromotionDecision)
    assert (decision.version, decision.action, decision.promoted, decision.forced) == (
        V1,
        "promote",
        True,
        False,
    )
    assert decision.gates == dict.fromkeys(
        ("triplets", "evaluated", "mrr", "interval", "hit5", "events", "artifact"), True
    )
    assert decision.job_id == "evaluate-1"


async def test_a_model_no_better_than_no_reranker_is_not_promoted(js, promoter, models):
    await train(js, models, V1)
    await promote_auto(js, evaluation(V1, mrr=0.51, low=-0.04))

    assert await pointer(js) is None
    assert await events(js, subjects.MODEL_UPDATED) == []
    [decision] = await events(js, subjects.MODEL_DECISION)
    assert (decision.version, decision.promoted) == (V1, False)
    assert [gate for gate, ok in decision.gates.items() if not ok] == ["interval"]
    assert decision.reasons[0].startswith("interval: the 95% interval of the MRR@10 gain over no reranker")


async def test_a_second_model_replaces_the_first_only_when_better_than_it(js, promoter, models):
    await train(js, models, V1)
    sha2 = await train(js, models, V2)
    await train(js, models, V3)
    await promote_auto(js, evaluation(V1, mrr=0.60))
    await promote_auto(js, evaluation(V3, mrr=0.58, production=(0.60, 0.80), production_version=V1))
    await promote_auto(js, evaluation(V2, mrr=0.65, production=(0.60, 0.80), production_version=V1))

    production = await pointer(js)
    assert (production.version, production.sha256, production.previous) == (V2, sha2, [V1])
    assert [e.version for e in await events(js, subjects.MODEL_UPDATED)] == [V1, V2]
    decisions = await events(js, subjects.MODEL_DECISION)
    assert [(d.version, d.promoted) for d in decisions] == [(V1, True), (V3, False), (V2, True)]
    assert [gate for gate, ok in decisions[1].gates.items() if not ok] == ["mrr"]


async def test_a_model_trained_on_fewer_feedback_events_replaces_production_only_when_significantly_better(
    js, promoter, models
):
    await train(js, models, V1, feedback_events=10)
    await train(js, models, V2, feedback_events=4)
    await train(js, models, V3, feedback_events=4)
    await promote_auto(js, evaluation(V1, mrr=0.60))
    better = evaluation(V2, mrr=0.65, production=(0.60, 0.80), production_version=V1)  # gain interval low < 0
    await promote_auto(js, better)
    assert (await pointer(js)).version == V1
    significant = evaluation(V3, mrr=0.70, production=(0.60, 0.80), production_version=V1)
    gain = msgspec.structs.replace(significant.intervals["production"], low=0.03)
    await promote_auto(
        js, msgspec.structs.replace(significant, intervals={**significant.intervals, "production": gain})
    )

    assert (await pointer(js)).version == V3
    decisions = await events(js, subjects.MODEL_DECISION)
    assert [(d.version, d.promoted) for d in decisions] == [(V1, True), (V2, False), (V3, True)]
    assert [gate for gate, ok in decisions[1].gates.items() if not ok] == ["events"]
    assert decisions[1].reasons == [
        "events: trained on 4 feedback events, fewer than production's 10, and the 95% interval of its "
        "MRR@10 gain over production is [-0.100, +0.100]; its lower bound must be above 0 to replace a "
        "model that saw more"
    ]


async def test_a_redelivered_evaluation_does_nothing_twice(js, config, models):
    await train(js, models, V1)
    async with TestApp(create_app(config)):
        await promote_auto(js, evaluation(V1))
        kv = await js.key_value(Buckets.REGISTRY)
        revision = (await kv.get("model")).revision
        await promote_auto(js, evaluation(V1))  # the same evaluation published again
    await redeliver_every_evaluation(js, config)

    assert (await kv.get("model")).revision == revision
    assert len(await events(js, subjects.MODEL_UPDATED)) == 1
    assert len(await events(js, subjects.MODEL_DECISION)) == 1


async def test_manual_promotion_applies_the_gates_unless_forced(js, promoter, models):
    sha256 = await train(js, models, V1)
    evals = await js.key_value(Buckets.EVALS)
    await evals.put(V1, encoder.encode(evaluation(V1, triplets=12)))

    refused = await command(js, subjects.CMD_PROMOTE, {"type": "promote", "job_id": "p-1", "model": V1})
    assert (refused.kind, refused.state) == ("promote", "failed")
    assert (
        refused.message == f"{V1} not promoted: triplets: trained on 12 triplets, fewer than the 30 required"
    )
    assert await pointer(js) is None

    outside = {"type": "promote", "job_id": "p-0", "model": f"/x/{V1}"}
    refused = await command(js, subjects.CMD_PROMOTE, outside)
    assert refused.state == "failed"
    assert refused.message.startswith(f"model_path: '/x/{V1}' is not a model directory inside the models")

    lowered = {"type": "promote", "job_id": "p-2", "model": f"{models}/{V1}/", "min_triplets": 10}
    assert (await command(js, subjects.CMD_PROMOTE, lowered)).state == "succeeded"
    assert (await pointer(js)).version == V1

    unevaluated = f"{models}/{V2}"
    sha2 = await train(js, models, V2)
    refused = await command(
        js, subjects.CMD_PROMOTE, {"type": "promote", "job_id": "p-3", "model": unevaluated}
    )
    assert refused.state == "failed"
    assert "evaluated: no evaluation of it was found" in refused.message

    forced = {"type": "promote", "job_id": "p-4", "model": unevaluated, "force": True}
    done = await command(js, subjects.CMD_PROMOTE, forced)
    assert done.state == "succeeded"
    assert done.message == f"promoted {V2} (forced past: triplets, evaluated, mrr, interval, hit5, events)"
    assert (await pointer(js)).previous == [V1]
    decisions = await events(js, subjects.MODEL_DECISION)
    assert [(d.job_id, d.promoted, d.forced) for d in decisions] == [
        ("p-1", False, False),
        ("p-2", True, False),
        ("p-3", False, False),
        ("p-4", True, True),
    ]
    updates = [(e.version, e.sha256) for e in await events(js, subjects.MODEL_UPDATED)]
    assert updates == [(V1, sha256), (V2, sha2)]


async def test_rollback_returns_to_the_previous_version_then_to_no_reranker(js, promoter, models):
    sha1 = await train(js, models, V1)
    await train(js, models, V2)
    await promote_auto(js, evaluation(V1, mrr=0.60))
    await promote_auto(js, evaluation(V2, mrr=0.65, production=(0.60, 0.80), production_version=V1))

    first = await command(js, subjects.CMD_ROLLBACK, {"type": "rollback", "job_id": "r-1"})
    assert (first.kind, first.state, first.message) == (
        "rollback",
        "succeeded",
        f"rolled back from {V2} to {V1}",
    )
    production = await pointer(js)
    assert (production.version, production.sha256, production.previous) == (V1, sha1, [])

    second = await command(js, subjects.CMD_ROLLBACK, {"type": "rollback", "job_id": "r-2"})
    assert (second.state, second.message) == ("succeeded", f"rolled back from {V1} to no reranker")
    assert await pointer(js) is None

    third = await command(js, subjects.CMD_ROLLBACK, {"type": "rollback", "job_id": "r-3"})
    assert (third.state, third.message) == ("failed", "no reranker is in production: nothing to roll back")

    updates = [(e.version, e.sha256) for e in await events(js, subjects.MODEL_UPDATED)]
    assert updates[2:] == [(V1, sha1), (None, None)]
    rollbacks = [d for d in await events(js, subjects.MODEL_DECISION) if d.action == "rollback"]
    assert [(d.version, d.promoted, d.job_id) for d in rollbacks] == [(V1, True, "r-1"), (None, True, "r-2")]


async def test_a_rollback_whose_bus_answers_are_lost_goes_back_exactly_one_version(
    js, promoter, models, monkeypatch
):
    """JetStream answers lost under load (seen as a JSONDecodeError on an empty answer): before
    the pointer write, and after the write landed. The rollback still ends one version back."""
    import services.promoter.promotion as promotion

    sha1 = await train(js, models, V1)
    await train(js, models, V2)
    await promote_auto(js, evaluation(V1, mrr=0.60))
    await promote_auto(js, evaluation(V2, mrr=0.65, production=(0.60, 0.80), production_version=V1))
    lost = json.JSONDecodeError("Expecting value", "", 0)
    real_sha256, real_write = promotion.archive_sha256, promotion.write_pointer
    calls = {"sha256": 0, "write": 0}

    async def sha256_lost_once(js_, version):
        calls["sha256"] += 1
        if calls["sha256"] == 1:
            raise lost
        return await real_sha256(js_, version)

    async def write_then_lose_the_answer(js_, target, revision):
        calls["write"] += 1
        await real_write(js_, target, revision)
        if calls["write"] == 1:
            raise lost

    monkeypatch.setattr(promotion, "archive_sha256", sha256_lost_once)
    monkeypatch.setattr(promotion, "write_pointer", write_then_lose_the_answer)
    done = await command(js, subjects.CMD_ROLLBACK, {"type": "rollback", "job_id": "r-lost"})
    assert (done.state, done.message) == ("succeeded", f"rolled back from {V2} to {V1}")
    assert calls == {"sha256": 2, "write": 1}  # the write landed: it is not made again
    production = await pointer(js)
    assert (production.version, production.sha256, production.previous) == (V1, sha1, [])
    rollbacks = [d for d in await events(js, subjects.MODEL_DECISION) if d.action == "rollback"]
    assert [(d.version, d.job_id) for d in rollbacks] == [(V1, "r-lost")]


async def test_a_redelivered_evaluation_cannot_undo_a_rollback(js, config, models):
    await train(js, models, V1)
    async with TestApp(create_app(config)):
        await promote_auto(js, evaluation(V1))
        rollback = await command(js, subjects.CMD_ROLLBACK, {"type": "rollback", "job_id": "r-1"})
        assert rollback.state == "succeeded"
    await redeliver_every_evaluation(js, config)

    assert await pointer(js) is None
    assert [e.version for e in await events(js, subjects.MODEL_UPDATED)] == [V1, None]
    assert [(d.action, d.promoted) for d in await events(js, subjects.MODEL_DECISION)] == [
        ("promote", True),
        ("rollback", True),
    ]


async def test_an_archive_other_than_the_one_trained_is_refused_even_when_forced(js, promoter, models):
    await train(js, models, V1)
    replaced = models / "replaced" / V1
    replaced.mkdir(parents=True)
    (replaced / "model.onnx").write_bytes(b"not what was trained")
    (replaced / MANIFEST).write_text(json.dumps({"version": V1, "files": file_hashes(replaced)}))
    await put_model(js, replaced)

    done = await command(
        js, subjects.CMD_PROMOTE, {"type": "promote", "job_id": "p-1", "model": V1, "force": True}
    )
    assert done.state == "failed"
    assert "artifact: " in done.message and "is not the one the trainer announced" in done.message
    missing = await command(
        js, subjects.CMD_PROMOTE, {"type": "promote", "job_id": "p-2", "model": V2, "force": True}
    )
    assert f"artifact: {V2} is not in the object store `models`" in missing.message
    assert await pointer(js) is None
    assert await events(js, subjects.MODEL_UPDATED) == []


async def test_an_interrupted_promotion_is_broadcast_when_its_evaluation_comes_again(js, promoter, models):
    sha256 = await train(js, models, V1)
    kv = await js.key_value(Buckets.REGISTRY)
    revision = await kv.put("model", encoder.encode(ModelPointer(V1, sha256, time.time())))  # then it died

    await promote_auto(js, evaluation(V1))

    assert (await kv.get("model")).revision == revision
    assert [(e.version, e.sha256) for e in await events(js, subjects.MODEL_UPDATED)] == [(V1, sha256)]
    assert await events(js, subjects.MODEL_DECISION) == []


async def test_malformed_messages_are_set_aside_and_the_next_ones_handled(js, promoter, models):
    await js.publish(subjects.MODEL_EVALUATED, b'{"type": "model.evaluated", "version": 3}')
    await js.publish(subjects.CMD_PROMOTE, b'{"type": "promote", "job_id": "p-1"}')
    await train(js, models, V1)
    await promote_auto(js, evaluation(V1))

    assert (await pointer(js)).version == V1
    dead = await js.get_last_msg("COMMANDS", f"{subjects.CMD_PREFIX}.dead")
    assert dead.headers["Codesift-Reason"].startswith("model:")
    assert await job_state(js, "p-1") is None


def decision_counts() -> dict[str, float]:
    found = {
        f"{action}_{outcome}": sample(
            "codesift_promotion_decisions_total", action=action, outcome=outcome, forced="false"
        )
        for action in ("promote", "rollback")
        for outcome in ("promoted", "refused")
    }
    for gate in ("triplets", "mrr", "interval", "artifact"):
        for result in ("passed", "failed"):
            name = "codesift_promotion_gate_checks_total"
            found[f"{gate}_{result}"] = sample(name, gate=gate, result=result)
    return found


async def test_decisions_are_counted_once_each_by_outcome_and_gate(js, config, models):
    before = decision_counts()
    await train(js, models, V1)
    await train(js, models, V2)
    async with TestApp(create_app(config)):
        await promote_auto(js, evaluation(V1, mrr=0.60))
        await promote_auto(js, evaluation(V2, mrr=0.55, production=(0.60, 0.80), production_version=V1))
    await redeliver_every_evaluation(js, config)  # decided already: counted again nowhere
    async with TestApp(create_app(config)):
        assert (await command(js, subjects.CMD_ROLLBACK, {"type": "rollback", "job_id": "r-9"})).state == (
            "succeeded"
        )
    after = decision_counts()
    moved = {name: after[name] - before[name] for name in before if after[name] != before[name]}
    assert moved == {
        "promote_promoted": 1, "promote_refused": 1, "rollback_promoted": 1,
        "triplets_passed": 2, "mrr_passed": 1, "mrr_failed": 1, "interval_passed": 2,
        "artifact_passed": 2,
    }  # fmt: skip
