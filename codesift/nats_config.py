"""The embedded nats-server's configuration: listen address, JetStream store, and one user per
process kind with the subjects it may publish to.

Publishing is what is restricted (a wrong publish is what changes the stack: a command, a model
broadcast, the production pointer). Every user may subscribe to anything. Request/reply answers go
through `allow_responses` (a service may answer the requests it received and nothing else on
_INBOX). The JetStream API is open to every user except purging and deleting streams and stored
messages (the object-store writers may purge their own bucket, as overwriting an object does).
See README "NATS: authentication and permissions" for the table and what this leaves open.
"""

from __future__ import annotations

import json
from pathlib import Path

from shared import subjects
from shared.nats_auth import KINDS, ensure_secrets_dir, write_private
from shared.registry import MODEL_POINTER_KEY
from shared.streams import Buckets

SERVER_CONF = "nats-server.conf"

# What every client needs: JetStream requests (stream/bucket bootstrap, lookups, consumers, direct
# gets), acks and flow control of consumed messages.
JETSTREAM = [
    "$JS.API.INFO",
    "$JS.API.STREAM.NAMES",
    "$JS.API.STREAM.LIST",
    "$JS.API.STREAM.INFO.*",
    "$JS.API.STREAM.CREATE.*",  # shared.streams.bootstrap, called by every process
    "$JS.API.STREAM.UPDATE.*",
    "$JS.API.STREAM.MSG.GET.*",
    "$JS.API.DIRECT.GET.>",
    "$JS.API.CONSUMER.>",
    "$JS.ACK.>",
    "$JS.FC.>",
]
# Never allowed, even where a wider rule would match: deleting or purging what is stored.
DESTRUCTIVE = ["$JS.API.STREAM.DELETE.*", "$JS.API.STREAM.MSG.DELETE.*"]


def kv(bucket: str, key: str = ">") -> str:
    return f"$KV.{bucket}.{key}"


def object_store(bucket: str) -> list[str]:
    """Writing objects: chunks and metadata, and purging the chunks of an object replaced."""
    return [f"$O.{bucket}.>", f"$JS.API.STREAM.PURGE.OBJ_{bucket}"]


DEAD_COMMANDS = f"{subjects.CMD_PREFIX}.dead"
JOB_PROGRESS = [kv(Buckets.JOBS), f"{subjects.JOB_PREFIX}.>"]  # shared/jobs.py
USER_COMMANDS = [
    subjects.CMD_INDEX,
    subjects.CMD_MINE,
    subjects.CMD_TRAIN,
    subjects.CMD_EVALUATE,
    subjects.CMD_PROMOTE,
    subjects.CMD_ROLLBACK,
]
# Starting and stopping an online experiment (shared/experiments.py): the gateway and the CLI.
EXPERIMENT_CONTROL = [kv(Buckets.EXPERIMENTS, "running"), kv(Buckets.EXPERIMENTS, "exp.>")]
SEARCH_REQUESTS = [
    subjects.SEARCH_QUERY,
    subjects.SEARCH_CANDIDATES,
    subjects.SEARCH_DOCUMENTS,
    subjects.SEARCH_PING,
    subjects.SERVICE_PING,  # health: every service but the replicas answers it
]

# kind -> the subjects it publishes to besides JETSTREAM. Only the promoter moves the production
# pointer and announces it; only the gateway and the CLI send feedback and user commands.
PUBLISH: dict[str, list[str]] = {
    "search": [f"{subjects.TELEMETRY_IMPRESSION}.*"],
    "indexer": [
        subjects.INDEX_UPDATED,
        kv(Buckets.REGISTRY, "index"),
        *object_store(Buckets.INDEXES),
        *JOB_PROGRESS,
        DEAD_COMMANDS,
    ],
    "telemetry": [subjects.TELEMETRY_DEAD_LETTER, kv(Buckets.EXPERIMENTS, "search.>")],
    "trainer": [
        subjects.MODEL_TRAINED,
        kv(Buckets.REGISTRY, "trained.>"),
        *object_store(Buckets.MODELS),
        *JOB_PROGRESS,
        kv(Buckets.LEARNING),  # the continuous loop's state and schedule (shared/learning.py)
        subjects.CMD_MINE,  # the loop's own runs (services/trainer/loop.py)
        subjects.CMD_TRAIN,
        subjects.SEARCH_CANDIDATES,
        subjects.SEARCH_DOCUMENTS,
        subjects.SEARCH_PING,
        DEAD_COMMANDS,
    ],
    "evaluator": [
        subjects.MODEL_EVALUATED,
        kv(Buckets.EVALS),
        *JOB_PROGRESS,
        subjects.SEARCH_CANDIDATES,
        DEAD_COMMANDS,
    ],
    "promoter": [
        subjects.MODEL_UPDATED,
        subjects.MODEL_DECISION,
        kv(Buckets.REGISTRY, MODEL_POINTER_KEY),
        *JOB_PROGRESS,
        DEAD_COMMANDS,
    ],
    "gateway": [
        subjects.TELEMETRY_FEEDBACK,
        *USER_COMMANDS,
        *SEARCH_REQUESTS,
        subjects.TRAINER_LOGS,
        kv(Buckets.JOBS),
        *EXPERIMENT_CONTROL,
    ],
    "cli": [
        subjects.TELEMETRY_FEEDBACK,
        *USER_COMMANDS,
        *SEARCH_REQUESTS,
        subjects.TRAINER_LOGS,
        kv(Buckets.JOBS),
        *EXPERIMENT_CONTROL,
    ],
}
# answer requests: search queries, the trainer's job logs, and every service's health ping
RESPONDERS = {"search", "indexer", "telemetry", "trainer", "evaluator", "promoter"}

assert set(PUBLISH) == set(KINDS), "every process kind needs its permissions"


def permissions(kind: str) -> dict[str, object]:
    rules: dict[str, object] = {
        "publish": {"allow": JETSTREAM + PUBLISH[kind], "deny": DESTRUCTIVE},
        "subscribe": {"allow": [">"]},
    }
    if kind in RESPONDERS:
        rules["allow_responses"] = True
    return rules


def server_config(port: int, store: Path, users: dict[str, str], host: str = "127.0.0.1") -> str:
    """The nats-server configuration (JSON, which nats-server's configuration format accepts)."""
    config = {
        "host": host,
        "port": port,
        "jetstream": {"store_dir": str(store)},
        "authorization": {"users": users_block(users)},
    }
    return json.dumps(config, indent=2) + "\n"


def users_block(users: dict[str, str]) -> list[dict[str, object]]:
    return [{"user": kind, "password": users[kind], "permissions": permissions(kind)} for kind in KINDS]


def write_server_config(data_dir: Path, port: int, store: Path, users: dict[str, str]) -> Path:
    """DATA_DIR/secrets/nats-server.conf (0600: it holds the passwords), rewritten on every start.

    A deployment's nats-servers get the same users and permissions from codesift/deploy_config.py."""
    path = ensure_secrets_dir(data_dir) / SERVER_CONF
    write_private(path, server_config(port, store, users))
    return path
