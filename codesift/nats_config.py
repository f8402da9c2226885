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
import secrets
from dataclasses import dataclass
from pathlib import Path

from shared import subjects
from shared.nats_auth import KINDS, ensure_secrets_dir, write_private
from shared.registry import MODEL_POINTER_KEY
from shared.streams import Buckets

SERVER_CONF = "nats-server.conf"
ROUTE_SECRET = "nats-route.json"  # the route user of a local cluster's nodes (`codesift up --cluster N`)
CLUSTER_NAME = "codesift"

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


@dataclass(frozen=True)
class Node:
    """One nats-server of a local cluster: its name (server_name, unique: JetStream's Raft groups
    tell the peers apart by it), client port, route port and JetStream store."""

    name: str
    port: int
    cluster_port: int
    store: Path

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"


@dataclass(frozen=True)
class Routes:
    """What one node of a cluster needs beyond a single server: every node's route port (its own
    included: nats-server ignores a route to itself) and the route user the nodes log in with."""

    ports: tuple[int, ...]
    user: str
    password: str


def server_config(
    port: int,
    store: Path,
    users: dict[str, str],
    host: str = "127.0.0.1",
    *,
    name: str = "",
    cluster_port: int = 0,
    routes: Routes | None = None,
) -> str:
    """The nats-server configuration (JSON, which nats-server's configuration format accepts).

    With `routes`, a cluster node: `server_name`, and a `cluster {}` block that listens for routes
    on `cluster_port`, asks them for the route user (a route is not a client: the users above do not
    apply to it, and without its own authorization any local process could join the cluster and
    read every subject) and connects to the other nodes as that user.
    """
    config: dict[str, object] = {"host": host, "port": port}
    if name:
        config["server_name"] = name
    config["jetstream"] = {"store_dir": str(store)}
    config["authorization"] = {"users": users_block(users)}
    if routes is not None:
        login = f"{routes.user}:{routes.password}"
        config["cluster"] = {
            "name": CLUSTER_NAME,
            "listen": f"{host}:{cluster_port}",
            "authorization": {"user": routes.user, "password": routes.password, "timeout": 2},
            "routes": [f"nats-route://{login}@{host}:{p}" for p in routes.ports],
            "connect_retries": 30,  # a restarted node keeps trying a peer that is itself restarting
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


def route_login(data_dir: Path) -> tuple[str, str]:
    """The route user of a local cluster, from DATA_DIR/secrets/nats-route.json (created 0600 on the
    first clustered start, then reused)."""
    path = ensure_secrets_dir(data_dir) / ROUTE_SECRET
    try:
        raw = json.loads(path.read_text())
        return str(raw["user"]), str(raw["password"])
    except (OSError, ValueError, KeyError, TypeError):
        login = ("route", secrets.token_urlsafe(32))
        write_private(path, json.dumps({"user": login[0], "password": login[1]}) + "\n")
        return login


def cluster_nodes(data_dir: Path, ports: list[tuple[int, int]]) -> list[Node]:
    """Nodes nats-1..nats-N on these (client port, route port) pairs, each with its own store
    under DATA_DIR/nats/."""
    return [
        Node(f"nats-{i}", port, cluster_port, data_dir / "nats" / f"nats-{i}")
        for i, (port, cluster_port) in enumerate(ports, start=1)
    ]


def node_config_path(data_dir: Path, node: Node) -> Path:
    return data_dir / "secrets" / f"{node.name}.conf"


def write_cluster_configs(data_dir: Path, nodes: list[Node], users: dict[str, str]) -> list[Path]:
    """DATA_DIR/secrets/nats-K.conf for every node (0600), rewritten on every start."""
    user, password = route_login(data_dir)
    routes = Routes(tuple(n.cluster_port for n in nodes), user, password)
    paths = []
    for node in nodes:
        text = server_config(
            node.port, node.store, users, name=node.name, cluster_port=node.cluster_port, routes=routes
        )
        path = node_config_path(data_dir, node)
        write_private(path, text)
        paths.append(path)
    return paths
