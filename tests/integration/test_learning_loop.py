"""The continuous loop's scheduler against a real nats-server: two trainers claim each run once, a run
is mine then train, a restart neither runs a slot again nor forgets the count, and nothing starts
while a trainer job runs. The trainer's jobs are played by writing their states (no model is trained)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.js import JetStreamContext, api

from services.trainer.loop import LearningLoop
from services.trainer.settings import TrainerSettings
from shared import subjects
from shared.jobs import TRAINER_LOCK, job_state
from shared.learning import LearnRun, LearnState, feedback_count, read_schedule, read_state
from shared.schemas import JobProgress, command_decoder, encoder
from shared.streams import Buckets, bootstrap
from tests.conftest import NatsServer


@pytest.fixture
async def js(nats_server: NatsServer) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(nats_server.url)
    js = await bootstrap(nc)
    await js.add_consumer(  # the telemetry's durable consumer, as services/telemetry/handlers.py makes it
        "FEEDBACK",
        config=api.ConsumerConfig(durable_name="telemetry", ack_policy=api.AckPolicy.EXPLICIT),
    )
    yield js
    await nc.close()


@pytest.fixture
def settings(nats_server: NatsServer, tmp_path: Path) -> TrainerSettings:
    return TrainerSettings(
        nats_url=nats_server.url,
        data_dir=tmp_path,
        learn_after_events=5,
        learn_train_options='{"time_budget_s": 20, "min_triplets": 5}',
    )


async def store_feedback(js: JetStreamContext, n: int) -> None:
    """n events published and acknowledged by the telemetry's consumer (written to the log)."""
    for _ in range(n):
        await js.publish(subjects.TELEMETRY_FEEDBACK, b"{}")
    sub = await js.pull_subscribe_bind("telemetry", "FEEDBACK")
    for msg in await sub.fetch(n, timeout=5):
        await msg.ack_sync()
    await sub.unsubscribe()


async def commands(js: JetStreamContext) -> list:
    """Every mine and train command stored, in order."""
    found = []
    info = await js.stream_info("COMMANDS")
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        if info.state.messages == 0:
            break
        found.append(command_decoder.decode((await js.get_msg("COMMANDS", seq)).data))
    return found


async def job_ends(js: JetStreamContext, job_id: str, state: str = "succeeded", message: str = "") -> None:
    kind = job_id.rsplit("-", 1)[-1]
    kv = await js.key_value(Buckets.JOBS)
    await kv.put(job_id, encoder.encode(JobProgress(time.time(), job_id, kind, state, 1.0, message)))


async def test_a_run_is_claimed_once_runs_mine_then_train_and_the_next_waits_for_n_more(js, settings):
    first, second = LearningLoop(settings, js), LearningLoop(settings, js)
    await store_feedback(js, 4)
    await asyncio.gather(first.tick(), second.tick())
    assert await commands(js) == []
    assert (await read_schedule(js)).next_run == "after 1 more events"

    await store_feedback(js, 1)
    assert await feedback_count(js) == 5
    decisions = await asyncio.gather(first.tick(), second.tick())
    assert [d.run for d in decisions].count(True) == 2  # both saw it due; the state lets one claim it
    [mine] = await commands(js)
    assert (type(mine).__name__, mine.job_id, mine.source) == ("MineCommand", "learn-e5-mine", "all")
    state, _ = await read_state(js)
    assert (state.last_run_events, state.last_run_id, state.run.phase) == (5, "learn-e5", "mine")
    assert (await read_schedule(js)).running == "learn-e5-mine"

    jobs = await js.key_value(Buckets.JOBS)
    await jobs.put(TRAINER_LOCK, b"learn-e5-mine")  # the mine reported its end, its lock not yet released
    await job_ends(js, "learn-e5-mine")
    await first.tick()
    assert len(await commands(js)) == 1  # a train now would be refused as "already running"
    await jobs.delete(TRAINER_LOCK)
    await asyncio.gather(first.tick(), second.tick())
    again, train = await commands(js)
    assert again.job_id == "learn-e5-mine"  # stored once, though both trainers saw the mine end
    assert (type(train).__name__, train.job_id) == ("TrainCommand", "learn-e5-train")
    assert (train.time_budget_s, train.min_triplets) == (20.0, 5)  # CODESIFT_LEARN_TRAIN_OPTIONS

    await store_feedback(js, 3)  # arriving while the run goes on: they count towards the next one
    await job_ends(js, "learn-e5-train")
    await first.tick()
    state, _ = await read_state(js)
    assert (state.run, state.runs, state.last_outcome) == (None, 1, "succeeded")

    restarted = LearningLoop(settings, js)  # a trainer restarted: the stored state, not memory
    assert not (await restarted.tick()).run
    shown = await read_schedule(js)
    assert (shown.events_total, shown.events_since_last, shown.next_run) == (8, 3, "after 2 more events")
    assert len(await commands(js)) == 2


async def test_a_failed_mine_ends_the_run_without_a_train(js, settings):
    loop = LearningLoop(settings, js)
    await store_feedback(js, 5)
    await loop.tick()
    await job_ends(js, "learn-e5-mine", "failed", "golden: nope")
    await loop.tick()
    state, _ = await read_state(js)
    assert (state.run, state.last_outcome) == (None, "mine failed: golden: nope")
    assert [c.job_id for c in await commands(js)] == ["learn-e5-mine"]


async def test_nothing_starts_while_a_trainer_job_runs(js, settings):
    loop = LearningLoop(settings, js)
    jobs = await js.key_value(Buckets.JOBS)
    await jobs.put(TRAINER_LOCK, b"train-20261204-010000-abcd1234")
    await store_feedback(js, 6)
    decision = await loop.tick()
    assert not decision.run and "train-20261204-010000-abcd1234 is running" in decision.reason
    assert await commands(js) == []
    await jobs.delete(TRAINER_LOCK)
    assert (await loop.tick()).run_id == "learn-e6"
    assert [c.job_id for c in await commands(js)] == ["learn-e6-mine"]


async def test_a_claim_whose_command_was_lost_is_submitted_again(js, settings):
    start = time.time()
    claimed = LearnState(anchor=start, last_run_at=start, last_run_events=5, last_run_id="learn-e5")
    claimed.run = LearnRun("learn-e5", "mine", "learn-e5-mine", submitted_at=start)
    kv = await js.key_value(Buckets.LEARNING)
    await kv.put("state", encoder.encode(claimed))  # a trainer stopped between its claim and the publish
    loop = LearningLoop(settings, js)
    await loop.tick(now=start + 5)
    assert await commands(js) == []
    await loop.tick(now=start + 60)
    assert [c.job_id for c in await commands(js)] == ["learn-e5-mine"]
    assert (await job_state(js, "learn-e5-mine")).state == "queued"
