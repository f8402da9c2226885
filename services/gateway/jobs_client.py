"""The learning loop's jobs, seen from the gateway: submit commands, read job states and logs."""

from __future__ import annotations

import contextlib
import time

import msgspec
import nats.errors
from nats.aio.client import Client
from nats.js.errors import KeyWrongLastSequenceError

from services.gateway.errors import Conflict, Unavailable
from services.gateway.leader_wait import through_election
from shared import subjects
from shared.jobs import job_state, list_jobs, running_trainer_job
from shared.learning import LearnSchedule, read_schedule
from shared.schemas import (
    Command,
    EvaluateCommand,
    JobProgress,
    MineCommand,
    PromoteCommand,
    RollbackCommand,
    TrainCommand,
    command_kind,
    encoder,
)
from shared.streams import Buckets

SUBJECT_OF: dict[type[Command], str] = {
    MineCommand: subjects.CMD_MINE,
    TrainCommand: subjects.CMD_TRAIN,
    EvaluateCommand: subjects.CMD_EVALUATE,
    PromoteCommand: subjects.CMD_PROMOTE,
    RollbackCommand: subjects.CMD_ROLLBACK,
}
TRAINER_COMMANDS = (MineCommand, TrainCommand)  # one at a time: refused while the trainer's lock is held


class JobsClient:
    """clustered: as FeedbackClient's, a command that meets COMMANDS (or the jobs bucket) without a
    leader is offered again, with its job id, for up to half the timeout before 503."""

    def __init__(self, nc: Client, timeout: float, *, clustered: bool = False) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._timeout = timeout
        self._leader_wait = timeout / 2 if clustered else 0.0

    async def running(self) -> str | None:
        return await running_trainer_job(self._js)

    async def submit(self, command: Command) -> JobProgress:
        """Store the command durably and record its job as queued; returns that first state.

        Mine and train are refused while a trainer job runs (409 names it); evaluate, promote and
        rollback are other services' jobs and are never blocked by the trainer.
        """
        try:
            if isinstance(command, TRAINER_COMMANDS) and (current := await self.running()) is not None:
                raise Conflict(f"already running: {current}")
            payload = encoder.encode(command)

            async def store(seconds: float) -> object:
                return await self._js.publish(
                    SUBJECT_OF[type(command)],
                    payload,
                    timeout=seconds,
                    headers={"Nats-Msg-Id": command.job_id},
                )

            await through_election(store, self._timeout, self._leader_wait)
            return await through_election(
                lambda _: self._record_queued(command), self._timeout, self._leader_wait
            )
        except nats.errors.Error as exc:
            raise Unavailable(f"the command was not stored ({exc!r}): is the stack running?") from None

    async def _record_queued(self, command: Command) -> JobProgress:
        """Create the job's entry as `queued` unless the service running it has reported already.

        Without it a job polled before its service picks it up (or while that service is down)
        would be unknown rather than waiting.
        """
        queued = JobProgress(
            timestamp=time.time(),
            job_id=command.job_id,
            kind=command_kind(command),
            state="queued",
            message="waiting for its service to take it",
        )
        kv = await self._js.key_value(Buckets.JOBS)
        with contextlib.suppress(KeyWrongLastSequenceError):  # the service took it first: its state stands
            await kv.create(command.job_id, encoder.encode(queued))
        return queued

    async def job(self, job_id: str) -> JobProgress | None:
        """The latest state of one job, or None when no job has that id."""
        try:
            return await job_state(self._js, job_id)
        except nats.errors.Error as exc:
            raise Unavailable(f"job states are unreadable ({exc!r}): is the stack running?") from None

    async def jobs(self, limit: int = 20) -> list[JobProgress]:
        return await list_jobs(self._js, limit)

    async def schedule(self) -> LearnSchedule | None:
        """The continuous loop's schedule as the trainer last wrote it (KV `learning`)."""
        try:
            return await read_schedule(self._js)
        except nats.errors.Error as exc:
            raise Unavailable(
                f"the learning schedule is unreadable ({exc!r}): is the stack running?"
            ) from None

    async def logs(self) -> dict[str, object]:
        try:
            msg = await self._nc.request(subjects.TRAINER_LOGS, b"{}", timeout=self._timeout)
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
            raise Unavailable("the trainer does not answer: is the stack running?") from None
        return msgspec.json.decode(msg.data)
