"""The telemetry service's subscriber: a durable pull consumer on FEEDBACK, handed whole batches."""

from __future__ import annotations

import logging
from typing import Annotated

from faststream import Context
from faststream.middlewares import AckPolicy
from faststream.nats import ConsumerConfig, JStream, NatsRouter, PullSub
from faststream.nats.message import NatsBatchMessage
from nats.js import JetStreamContext, api

from services.telemetry.recording import FeedbackRecorder
from services.telemetry.settings import TelemetrySettings
from shared import subjects

log = logging.getLogger("codesift.telemetry")

FEEDBACK_STREAM = "FEEDBACK"
DURABLE = "telemetry"
MAX_ACK_PENDING = 20_000  # a batch in flight plus events held back waiting for their impression


def consumer_config(settings: TelemetrySettings) -> ConsumerConfig:
    """Redelivered until written: no max_deliver (a poison message is dead-lettered, not retried)."""
    return ConsumerConfig(
        name=DURABLE,
        durable_name=DURABLE,
        filter_subject=subjects.TELEMETRY_FEEDBACK,
        ack_policy=api.AckPolicy.EXPLICIT,
        ack_wait=settings.telemetry_ack_wait,
        max_deliver=-1,
        max_ack_pending=max(MAX_ACK_PENDING, 4 * settings.telemetry_batch_size),
    )


async def ensure_consumer(js: JetStreamContext, settings: TelemetrySettings) -> None:
    """Create the durable consumer, or bring an existing one to the current settings."""
    await js.add_consumer(FEEDBACK_STREAM, config=consumer_config(settings))


async def raw_bodies(msg: NatsBatchMessage) -> list[bytes]:
    """Leave the bodies alone: the recorder decodes them with msgspec (FastStream would json.loads each)."""
    return msg.body


def feedback_router(settings: TelemetrySettings) -> NatsRouter:
    router = NatsRouter()

    @router.subscriber(
        subjects.TELEMETRY_FEEDBACK,
        stream=JStream(FEEDBACK_STREAM, declare=False),
        durable=DURABLE,
        config=consumer_config(settings),
        pull_sub=PullSub(
            batch_size=settings.telemetry_batch_size, timeout=settings.telemetry_batch_wait, batch=True
        ),
        ack_policy=AckPolicy.MANUAL,
        decoder=raw_bodies,
    )
    async def on_feedback(
        msg: Annotated[NatsBatchMessage, Context("message")],
        recorder: FeedbackRecorder = Context("recorder"),
    ) -> None:
        report = await recorder.record(msg.raw_message)
        log.debug("batch of %d: %s", len(msg.raw_message), report)

    return router
