"""The promoter's subscribers: model.evaluated from EVENTS, promote/rollback commands from COMMANDS."""

from __future__ import annotations

import logging

from faststream import Context
from faststream.middlewares import AckPolicy
from faststream.nats import ConsumerConfig, JStream, NatsMessage, NatsRouter, PullSub

from services.promoter.commands import run_command
from services.promoter.promotion import Promoter
from shared import subjects
from shared.dead_letters import dead_letter_command
from shared.jobs import job_state
from shared.schemas import JOB_STATES_FINAL, ModelEvaluated, command_decoder, command_kind, event_decoder
from shared.validation import decode

log = logging.getLogger("codesift.promoter")
router = NatsRouter()
RETRY_DELAY_S = 2.0


def _consumer(subject: str, stream: str, durable: str):
    return router.subscriber(
        subject,
        stream=JStream(stream, declare=False),
        durable=durable,
        pull_sub=PullSub(batch_size=1, timeout=5.0),
        config=ConsumerConfig(ack_wait=30, max_deliver=5),
        ack_policy=AckPolicy.MANUAL,
    )


@_consumer(subjects.MODEL_EVALUATED, "EVENTS", "promoter-evaluated")
async def on_evaluated(msg: NatsMessage, promoter: Promoter = Context("promoter")) -> None:
    event, problem = decode(event_decoder, msg.body)
    if problem is not None or not isinstance(event, ModelEvaluated):
        log.error(
            "ignored a malformed model.evaluated: %s", problem.message if problem else type(event).__name__
        )
        await msg.reject()
        return
    try:
        await promoter.on_evaluated(event, msg.raw_message.metadata.sequence.stream)
    except Exception:
        log.exception("automatic promotion of %s failed; retrying", event.version)
        await msg.nack(delay=RETRY_DELAY_S)
        return
    await msg.ack()


@_consumer(subjects.CMD_PROMOTE, "COMMANDS", "promoter-promote")
async def on_promote(msg: NatsMessage, promoter: Promoter = Context("promoter")) -> None:
    await _run(msg, promoter)


@_consumer(subjects.CMD_ROLLBACK, "COMMANDS", "promoter-rollback")
async def on_rollback(msg: NatsMessage, promoter: Promoter = Context("promoter")) -> None:
    await _run(msg, promoter)


async def _run(msg: NatsMessage, promoter: Promoter) -> None:
    command, problem = decode(command_decoder, msg.body)
    expected = "promote" if msg.raw_message.subject == subjects.CMD_PROMOTE else "rollback"
    if problem is not None or command_kind(command) != expected:
        reason = f"{problem.field}: {problem.message}" if problem else f"not a {expected} command"
        log.error("rejected command: %s", reason)
        await dead_letter_command(promoter.nc, msg.body, reason)
        await msg.reject()
        return
    state = await job_state(promoter.js, command.job_id)
    if state is None or state.state not in JOB_STATES_FINAL:  # else a redelivery of a job that ended
        await run_command(promoter, command)
    await msg.ack()
