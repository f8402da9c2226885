"""The evaluator's subscribers: durable consumers of evaluate commands and of trained-model events.

Both are JetStream pull consumers acknowledged once the evaluation has ended, with in-progress
heartbeats meanwhile: an evaluator stopped mid-way gets the message again when it is back, so
no trained model goes unevaluated. A job that has already ended is not run twice.
"""

from __future__ import annotations

import logging

from faststream import Context
from faststream.middlewares import AckPolicy
from faststream.nats import ConsumerConfig, DeliverPolicy, JStream, NatsMessage, NatsRouter, PullSub

from services.evaluator.pipeline import Evaluator, trained_job_id
from shared import subjects
from shared.dead_letters import dead_letter_command
from shared.jobs import job_state, kept_alive
from shared.schemas import JOB_STATES_FINAL, EvaluateCommand, ModelTrained, command_decoder, event_decoder
from shared.validation import decode

log = logging.getLogger("codesift.evaluator")
router = NatsRouter()
HEARTBEAT_S = 10.0
COMMANDS_DURABLE = "evaluator-evaluate"
TRAINED_DURABLE = "evaluator-trained"


@router.subscriber(
    subjects.CMD_EVALUATE,
    stream=JStream("COMMANDS", declare=False),
    durable=COMMANDS_DURABLE,
    pull_sub=PullSub(batch_size=1, timeout=5.0),
    config=ConsumerConfig(ack_wait=30, max_deliver=5),
    ack_policy=AckPolicy.MANUAL,
)
async def on_evaluate(msg: NatsMessage, evaluator: Evaluator = Context("evaluator")) -> None:
    command, problem = decode(command_decoder, msg.body)
    if problem is not None or not isinstance(command, EvaluateCommand):
        reason = f"{problem.field}: {problem.message}" if problem else "not an evaluate command"
        log.error("rejected command: %s", reason)
        await dead_letter_command(evaluator.nc, msg.body, reason)
        await msg.reject()
        return
    if not await _ended(evaluator, command.job_id):
        async with kept_alive(msg, HEARTBEAT_S):
            await evaluator.on_command(command)
    await msg.ack()


@router.subscriber(
    subjects.MODEL_TRAINED,
    stream=JStream("EVENTS", declare=False),
    durable=TRAINED_DURABLE,
    deliver_policy=DeliverPolicy.NEW,  # models trained before the evaluator ever ran are not replayed
    pull_sub=PullSub(batch_size=1, timeout=5.0),
    config=ConsumerConfig(ack_wait=30, max_deliver=5),
    ack_policy=AckPolicy.MANUAL,
)
async def on_trained(msg: NatsMessage, evaluator: Evaluator = Context("evaluator")) -> None:
    event, problem = decode(event_decoder, msg.body)
    if problem is not None or not isinstance(event, ModelTrained):
        log.error("ignored a malformed model.trained event: %s", problem or type(event).__name__)
        await msg.reject()
        return
    if not await _ended(evaluator, trained_job_id(event.version)):
        async with kept_alive(msg, HEARTBEAT_S):
            await evaluator.on_trained(event)
    await msg.ack()


async def _ended(evaluator: Evaluator, job_id: str) -> bool:
    """A redelivery of a job that already ended."""
    state = await job_state(evaluator.js, job_id)
    return state is not None and state.state in JOB_STATES_FINAL
