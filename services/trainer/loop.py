"""The continuous loop: every CODESIFT_LEARN_CHECK_S the trainer checks its schedule and, when due,
starts mine → train by itself (the evaluator and the promoter take it from there).

Safe with several trainers: a run is claimed by compare-and-set on KV `learning` "state" (the
loser sees the revision moved and does nothing), and its commands carry their job id as
Nats-Msg-Id. Durable: the claim records when the run began and the feedback count it began at,
so a restarted trainer neither runs the same slot again nor forgets the events counted so far;
the run in progress is in the same state, so a trainer restarted between the mine and the train
submits the train when it finds the mine ended. Decisions: services/trainer/scheduling.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import msgspec
import nats.errors
from nats.js import JetStreamContext
from nats.js.errors import KeyWrongLastSequenceError

from services.trainer.scheduling import Decision, Schedule, decide, next_run_words
from services.trainer.settings import TrainerSettings, learn_schedule, learn_train_command
from shared import subjects
from shared.jobs import job_state, running_trainer_job
from shared.learning import (
    SCHEDULE_KEY,
    STATE_KEY,
    LearnRun,
    LearnSchedule,
    LearnState,
    feedback_count,
    read_state,
)
from shared.schemas import JOB_STATES_FINAL, JobProgress, MineCommand, TrainCommand, encoder
from shared.streams import Buckets

log = logging.getLogger("codesift.trainer.loop")
RESUBMIT_AFTER_S = 30.0  # a run's command with no job state after this long is published again
SHOW_AT_LEAST_EVERY_S = 60.0  # the schedule is rewritten this often even when unchanged (checked_at)


class LearningLoop:
    def __init__(self, settings: TrainerSettings, js: JetStreamContext):
        self.settings, self.js = settings, js
        self.schedule: Schedule = learn_schedule(settings)
        self._shown: LearnSchedule | None = None

    async def run_forever(self) -> None:
        while True:
            try:
                await self.tick()
            except (nats.errors.Error, TimeoutError) as exc:  # the bus is restarting: check again later
                log.warning("learning schedule not checked: %s", exc or type(exc).__name__)
            except Exception:  # never let one bad check stop the loop
                log.exception("learning schedule check failed")
            await asyncio.sleep(self.settings.learn_check_s)

    async def tick(self, now: float | None = None) -> Decision:
        """One check: advance the run in progress, or start one when due; refresh the snapshot."""
        now = time.time() if now is None else now
        state, revision = await read_state(self.js)
        if state is None:
            state, revision = await self._create(LearnState(anchor=now))
        if state.run is not None:
            state, revision = await self._advance(state, revision, now)
        events = await feedback_count(self.js)
        running = state.run.job_id if state.run else None
        busy = running or await running_trainer_job(self.js)
        decision = decide(self.schedule, state, now, events, busy)
        if decision.run:
            claimed = await self._claim(state, revision, decision, events, now)
            if claimed is not None:
                state = claimed
                running = claimed.run.job_id if claimed.run else None
        await self._show(state, decision, events, running, now)
        return decision

    async def _create(self, state: LearnState) -> tuple[LearnState, int]:
        kv = await self.js.key_value(Buckets.LEARNING)
        try:
            return state, await kv.create(STATE_KEY, encoder.encode(state))
        except KeyWrongLastSequenceError:  # another trainer created it first
            found, revision = await read_state(self.js)
            assert found is not None
            return found, revision

    async def _update(self, state: LearnState, revision: int) -> int | None:
        """Compare-and-set; None when another trainer changed the state since it was read."""
        kv = await self.js.key_value(Buckets.LEARNING)
        try:
            return await kv.update(STATE_KEY, encoder.encode(state), last=revision)
        except KeyWrongLastSequenceError:
            return None

    async def _claim(
        self, state: LearnState, revision: int, decision: Decision, events: int, now: float
    ) -> LearnState | None:
        run = LearnRun(decision.run_id, "mine", f"{decision.run_id}-mine", now, decision.reason)
        claimed = msgspec.structs.replace(
            state, last_run_at=now, last_run_events=events, last_run_id=decision.run_id, run=run
        )
        if await self._update(claimed, revision) is None:
            log.info("run %s was claimed by another trainer", decision.run_id)
            return None
        log.info("learning run %s starts: %s", decision.run_id, decision.reason)
        await self._submit(run)
        return claimed

    async def _advance(self, state: LearnState, revision: int, now: float) -> tuple[LearnState, int]:
        """The run's job ended: submit its train after a mine that succeeded, else end the run."""
        run = state.run
        assert run is not None
        job = await job_state(self.js, run.job_id)
        if job is None or job.state not in JOB_STATES_FINAL:
            if job is None and now - run.submitted_at > RESUBMIT_AFTER_S:
                await self._submit(run)  # the claim landed but the command did not (or was lost)
            return state, revision
        if await running_trainer_job(self.js) == run.job_id:
            return state, revision  # ended, its lock not released yet: a train now would be refused
        if run.phase == "mine" and job.state == "succeeded":
            train = LearnRun(run.run_id, "train", f"{run.run_id}-train", now, run.reason)
            advanced = msgspec.structs.replace(state, run=train)
        else:
            outcome = "succeeded" if job.state == "succeeded" else f"{run.phase} failed: {job.message}"
            advanced = msgspec.structs.replace(state, run=None, last_outcome=outcome, runs=state.runs + 1)
            train = None
        new_revision = await self._update(advanced, revision)
        if new_revision is None:  # another trainer advanced it
            found, found_revision = await read_state(self.js)
            return (found or state), found_revision
        if train is not None:
            await self._submit(train)
        else:
            log.info("learning run %s ended: %s", run.run_id, advanced.last_outcome)
        return advanced, new_revision

    async def _submit(self, run: LearnRun) -> None:
        command: MineCommand | TrainCommand
        if run.phase == "mine":
            command, subject = MineCommand(job_id=run.job_id), subjects.CMD_MINE
        else:
            command, subject = learn_train_command(self.settings, run.job_id), subjects.CMD_TRAIN
        await self.js.publish(subject, encoder.encode(command), headers={"Nats-Msg-Id": run.job_id})
        queued = JobProgress(time.time(), run.job_id, run.phase, "queued", 0.0, f"learning run: {run.reason}")
        jobs = await self.js.key_value(Buckets.JOBS)
        with contextlib.suppress(KeyWrongLastSequenceError):  # the trainer has reported it already
            await jobs.create(run.job_id, encoder.encode(queued))

    async def _show(
        self, state: LearnState, decision: Decision, events: int, running: str | None, now: float
    ) -> None:
        shown = LearnSchedule(
            enabled=self.schedule.enabled,
            after_events=self.schedule.after_events,
            every=self.settings.learn_every.strip() or None,
            every_s=self.schedule.every_s,
            events_total=events,
            events_since_last=decision.events_since_last,
            last_run_at=state.last_run_at,
            last_run_id=state.last_run_id,
            last_outcome=state.last_outcome,
            next_run_at=decision.next_run_at,
            events_needed=decision.events_needed,
            next_run=next_run_words(decision, running),
            running=running,
            checked_at=now,
        )
        if (
            self._shown is not None
            and now - self._shown.checked_at < SHOW_AT_LEAST_EVERY_S
            and msgspec.structs.replace(shown, checked_at=0)
            == msgspec.structs.replace(self._shown, checked_at=0)
        ):
            return  # unchanged: no write every few seconds
        kv = await self.js.key_value(Buckets.LEARNING)
        await kv.put(SCHEDULE_KEY, encoder.encode(shown))
        self._shown = shown


@contextlib.asynccontextmanager
async def learning_loop(settings: TrainerSettings, js: JetStreamContext):
    """The loop as a background task for the trainer's lifespan."""
    loop = LearningLoop(settings, js)
    task = asyncio.create_task(loop.run_forever())
    try:
        yield loop
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
