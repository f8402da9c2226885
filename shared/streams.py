"""JetStream streams, key-value buckets and object stores, with an idempotent bootstrap.

Every service calls `bootstrap()` at start-up: creating what exists already with the same
configuration is a no-op on the server, so services may start in any order. In a NATS cluster
nothing can be created until JetStream's meta leader is elected (a fresh cluster, or the leader's
node just killed): bootstrap retries for a bounded time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import nats.errors
from nats.aio.client import Client
from nats.js import JetStreamContext, api
from nats.js.errors import BadRequestError, ServiceUnavailableError

from shared import subjects

if TYPE_CHECKING:
    from shared.settings import Settings

DAY = 24 * 3600.0

STREAMS = (
    api.StreamConfig(
        name="COMMANDS",
        subjects=[subjects.CMD_ALL],
        storage=api.StorageType.FILE,
        max_age=30 * DAY,
        duplicate_window=120.0,  # a retried command with the same job id (Nats-Msg-Id) is stored once
    ),
    api.StreamConfig(
        name="FEEDBACK",
        subjects=[subjects.TELEMETRY_FEEDBACK],
        storage=api.StorageType.FILE,
        duplicate_window=3600.0,  # event_id is the message id: a retried event is stored once
    ),
    api.StreamConfig(
        name="IMPRESSIONS",
        subjects=[f"{subjects.TELEMETRY_IMPRESSION}.*"],  # looked up by query id: get_last_msg
        storage=api.StorageType.FILE,
        duplicate_window=120.0,
    ),
    api.StreamConfig(
        name="DEADLETTER",
        subjects=[subjects.TELEMETRY_DEAD_LETTER],
        storage=api.StorageType.FILE,
    ),
    api.StreamConfig(  # the audit trail of index and model events
        name="EVENTS",
        subjects=[subjects.INDEX_UPDATED, "codesift.model.>"],
        storage=api.StorageType.FILE,
    ),
)


@dataclass(frozen=True)
class Buckets:
    JOBS = "jobs"  # job id -> JobProgress (latest state)
    # "index" -> IndexUpdated; "model" -> ModelPointer (production reranker);
    # "trained.<version>" -> ModelTrained (every registered model, with its manifest)
    REGISTRY = "registry"
    EVALS = "evals"
    EXPERIMENTS = "experiments"  # online experiments and their credited clicks (shared/experiments.py)
    MODELS = "models"  # object store: model artifacts
    INDEXES = "indexes"  # object store: index snapshots
    LEARNING = "learning"  # the continuous loop's state and schedule (shared/learning.py); no TTL


KV_BUCKETS = (
    api.KeyValueConfig(bucket=Buckets.JOBS, history=1, ttl=30 * DAY, storage=api.StorageType.FILE),
    api.KeyValueConfig(bucket=Buckets.REGISTRY, history=10, storage=api.StorageType.FILE),
    api.KeyValueConfig(bucket=Buckets.EVALS, history=5, storage=api.StorageType.FILE),
    api.KeyValueConfig(bucket=Buckets.LEARNING, history=1, storage=api.StorageType.FILE),
    api.KeyValueConfig(bucket=Buckets.EXPERIMENTS, history=1, storage=api.StorageType.FILE),
)
OBJECT_STORES = (Buckets.MODELS, Buckets.INDEXES)


REPLICAS_VARIABLE = "CODESIFT_JETSTREAM_REPLICAS"
BOOTSTRAP_WAIT_S = 30.0  # how long bootstrap waits for a JetStream (meta) leader
# JetStream without a leader: 503 "JetStream system temporarily unavailable", or no answer at all
NOT_READY = (ServiceUnavailableError, nats.errors.TimeoutError, nats.errors.NoRespondersError)
log = logging.getLogger("codesift.streams")


def default_replicas(config: Settings | None = None, environ: Mapping[str, str] | None = None) -> int:
    """CODESIFT_JETSTREAM_REPLICAS when set, else what the running stack's DATA_DIR/stack.json
    says (`codesift up --cluster 3` writes 3), else 1. A command run by hand on a clustered stack
    must not ask for 1 replica: that would scale the streams down (or fail on the buckets)."""
    from shared.settings import settings

    config = config or settings()
    if (os.environ if environ is None else environ).get(REPLICAS_VARIABLE):
        return config.jetstream_replicas
    try:
        recorded = json.loads((config.data_dir / "stack.json").read_text()).get("jetstream_replicas", 1)
        return max(1, int(recorded))
    except (OSError, ValueError, TypeError, AttributeError):
        return config.jetstream_replicas


async def bootstrap(
    nc: Client, replicas: int | None = None, wait: float = BOOTSTRAP_WAIT_S
) -> JetStreamContext:
    """Create every stream, bucket and object store that is missing; return the JetStream context.

    replicas: JetStream replicas of each (default: `default_replicas()`; 3 in a NATS cluster).
    While JetStream has no leader the whole bootstrap is retried, for `wait` seconds at most; then
    the last error is raised.
    """
    n = replicas or default_replicas()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    pause = 0.1
    while True:
        try:
            return await _create_all(nc, n)
        except NOT_READY as exc:
            if loop.time() + pause >= deadline:
                raise
            log.info("JetStream not ready (%s); retrying", exc or type(exc).__name__)
            await asyncio.sleep(pause)
            pause = min(1.0, pause * 2)


async def _create_all(nc: Client, n: int) -> JetStreamContext:
    js = nc.jetstream()
    for stream in STREAMS:
        config = dataclasses.replace(stream, num_replicas=n)
        try:
            await js.add_stream(config)
        except BadRequestError:  # exists with another configuration: bring it to this one
            await js.update_stream(config)
    for kv in KV_BUCKETS:
        await js.create_key_value(dataclasses.replace(kv, replicas=n))
    for bucket in OBJECT_STORES:
        await js.create_object_store(
            bucket, config=api.ObjectStoreConfig(storage=api.StorageType.FILE, replicas=n)
        )
    return js
