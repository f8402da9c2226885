"""JetStream streams, key-value buckets and object stores, with an idempotent bootstrap.

Every service calls `bootstrap()` at start-up: creating what exists already with the same
configuration is a no-op on the server, so services may start in any order.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from nats.aio.client import Client
from nats.js import JetStreamContext, api
from nats.js.errors import BadRequestError

from shared import subjects

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


async def bootstrap(nc: Client, replicas: int | None = None) -> JetStreamContext:
    """Create every stream, bucket and object store that is missing; return the JetStream context.

    replicas: JetStream replicas of each (default CODESIFT_JETSTREAM_REPLICAS; 3 in a NATS cluster).
    """
    from shared.settings import settings

    n = replicas or settings().jetstream_replicas
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
