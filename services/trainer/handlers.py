"""The trainer's subscribers: mine and train commands from the COMMANDS stream, and its job logs."""

from __future__ import annotations

import logging

import msgspec
from faststream import Context
from faststream.middlewares import AckPolicy
from faststream.nats import ConsumerConfig, JStream, NatsMessage, NatsRouter, PullSub

from services.trainer import jobs
from services.trainer.pipeline import Trainer
from shared import subjects
from shared.dead_letters import dead_letter_command
from shared.jobs import JobReporter, job_state, kept_alive
from shared.schemas import MineCommand, TrainCommand, command_decoder, command_kind
from shared.validation import decode

log = logging.getLogger("codesift.trainer")
router = NatsRouter()
HEARTBEAT_S = 10.0


def _consumer(subject: str, durable: str):
    return router.subscriber(
        subject,
        stream=JStream("COMMANDS", declare=False),
        durable=durable,
        pull_sub=PullSub(batch_size=1, timeout=5.0),
        config=ConsumerConfig(ack_wait=30, max_deliver=5),
        ack_policy=AckPolicy.MANUAL,
    )


@_consumer(subjects.CMD_MINE, "trainer-mine")
async def on_mine(msg: NatsMessage, trainer: Trainer = Context("trainer")) -> None:
    await _run(msg, trainer, MineCommand)


@_consumer(subjects.CMD_TRAIN, "trainer-train")
async def on_train(msg: NatsMessage, trainer: Trainer = Context("trainer")) -> None:
    await _run(msg, trainer, TrainCommand)


async def _run(msg: NatsMessage, trainer: Trainer, kind: type) -> None:
    command, problem = decode(command_decoder, msg.body)
    if problem is not None or not isinstance(command, kind):
        reason = f"{problem.field}: {problem.message}" if problem else f"not a {kind.__name__}"
        log.error("rejected command: %s", reason)
        await dead_letter_command(trainer.nc, msg.body, reason)
        await msg.reject()
        return
    state = await job_state(trainer.js, command.job_id)
    if state is not None and state.state in ("succeeded", "failed"):
        await msg.ack()  # a redelivery of a job that already ended (e.g. failed by a restart)
        return
    async with kept_alive(msg, HEARTBEAT_S):
        try:
            await trainer.run(command)
        except jobs.AlreadyRunning as exc:
            reporter = JobReporter(trainer.nc, trainer.js, command.job_id, command_kind(command))
            await reporter.report("failed", 0.0, str(exc))
    await msg.ack()


@router.subscriber(subjects.TRAINER_LOGS)
async def on_logs(msg: NatsMessage, trainer: Trainer = Context("trainer")) -> bytes:
    return msgspec.json.encode(await trainer.logs())
