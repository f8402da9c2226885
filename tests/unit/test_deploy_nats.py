"""deploy/'s NATS files are what codesift/deploy_config.py renders from `codesift up`'s users and
permissions, and three real nats-servers started from them form one JetStream cluster that lets each
service in as its own user, with its permissions, the password coming from the environment."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import nats
import pytest
from nats.errors import NoServersError

from codesift import deploy_config
from codesift.deploy_config import (
    COMPOSE_NATS,
    DeploySecretsError,
    load_or_create_passwords,
    make_secrets,
    password_variable,
)
from codesift.nats_config import PUBLISH, server_config
from shared import subjects
from shared.nats_auth import KINDS
from shared.streams import bootstrap
from tests.conftest import nats_server_binary


def test_the_generated_deploy_files_are_up_to_date():
    assert deploy_config.stale() == [], "run: python -m codesift.deploy_config render"


def test_a_permission_change_makes_the_deploy_files_stale(monkeypatch):
    monkeypatch.setitem(PUBLISH, "search", [*PUBLISH["search"], "codesift.model.updated"])
    assert set(deploy_config.stale()) == {COMPOSE_NATS / "auth.conf", deploy_config.K8S_CONFIGMAP}


def test_the_deploy_users_are_the_embedded_servers_users_with_passwords_from_the_environment():
    auth = deploy_config.auth_conf()
    for kind in KINDS:
        assert f'"password": ${password_variable(kind)},' in auth  # unquoted: a variable reference
    body = "".join(line for line in auth.splitlines(keepends=True) if not line.startswith("#"))
    as_embedded = json.loads(
        re.sub(r"\$CODESIFT_NATS_PASSWORD_([A-Z]+)", lambda m: f'"{m[1].lower()}"', body)
    )
    embedded = json.loads(server_config(4222, Path("/x"), {kind: kind for kind in KINDS}))
    assert as_embedded == {"authorization": embedded["authorization"]}


def test_secrets_are_made_once_private_and_in_a_form_nats_server_reads_as_strings(tmp_path):
    files = make_secrets(tmp_path)
    first = load_or_create_passwords(tmp_path)
    assert sorted(first) == sorted(KINDS) and load_or_create_passwords(tmp_path) == first
    for path in files.values():
        assert path.stat().st_mode & 0o077 == 0, path
    compose = (tmp_path / "secrets" / "compose.env").read_text()
    assert all(f"{password_variable(k)}={first[k]}\n" in compose for k in KINDS)
    assert "CODESIFT_ADMIN_TOKEN=" in compose
    env = tmp_path / "secrets" / "nats-passwords.env"
    env.write_text(env.read_text().replace(first["search"], "1234567890123456789"))  # a number to nats
    with pytest.raises(DeploySecretsError, match="CODESIFT_NATS_PASSWORD_SEARCH must start with a letter"):
        load_or_create_passwords(tmp_path)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@pytest.fixture
def deploy_cluster(tmp_path):
    """Three nodes from deploy/nats/nats.conf as compose runs it; flags override only what cannot
    work on one host (ports, the routes' host names), and each node's store is a folder of its own."""
    passwords = load_or_create_passwords(tmp_path)
    conf = (COMPOSE_NATS / "nats.conf").read_text()
    assert "store_dir: /data\n" in conf
    ports = free_ports(9)
    client, cluster, monitor = ports[0:3], ports[3:6], ports[6:9]
    routes = ",".join(f"nats://127.0.0.1:{p}" for p in cluster)
    env = os.environ | {password_variable(k): v for k, v in passwords.items()}
    procs = []
    for i in range(3):
        node, log = tmp_path / f"n{i}", tmp_path / f"n{i}.log"
        node.mkdir()
        (node / "nats.conf").write_text(conf.replace("store_dir: /data\n", f"store_dir: {node / 'js'}\n"))
        (node / "auth.conf").write_text((COMPOSE_NATS / "auth.conf").read_text())
        argv = [nats_server_binary(), "-c", str(node / "nats.conf"), "-a", "127.0.0.1", "-p", str(client[i])]
        argv += ["-m", str(monitor[i]), "--cluster", f"nats://127.0.0.1:{cluster[i]}", "--routes", routes]
        argv += ["-l", str(log)]
        node_env = env | {"NATS_SERVER_NAME": f"nats-{i + 1}"}
        procs.append(
            subprocess.Popen(argv, env=node_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
    try:
        deadline = time.monotonic() + 20
        logs = [tmp_path / f"n{i}.log" for i in range(3)]
        while not all(p.exists() and "Server is ready" in p.read_text() for p in logs):
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs), [
                p.read_text()[-2000:] for p in logs if p.exists()
            ]
            time.sleep(0.05)
        yield [f"nats://127.0.0.1:{p}" for p in client], passwords
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=10)


@pytest.mark.slow  # ~7 s: three nodes elect a JetStream meta leader
async def test_three_nodes_from_the_deploy_config_form_one_jetstream_cluster_with_the_services_users(
    deploy_cluster,
):
    servers, passwords = deploy_cluster
    refused: list[str] = []

    async def error(exc: Exception) -> None:
        refused.append(str(exc))

    search = await nats.connect(
        servers, user="search", password=passwords["search"], error_cb=error, max_reconnect_attempts=5
    )
    promoter = await nats.connect(servers[2:], user="promoter", password=passwords["promoter"])
    try:
        js = None
        deadline = time.monotonic() + 20
        while js is None:  # the JetStream meta leader is elected a moment after the nodes are ready
            try:
                js = await bootstrap(search, replicas=3)
            except Exception:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.25)
        info = await js.stream_info("IMPRESSIONS")
        assert info.config.num_replicas == 3 and len(info.cluster.replicas or []) == 2  # all 3 nodes
        updates = await promoter.subscribe(subjects.MODEL_UPDATED)
        await search.publish(subjects.MODEL_UPDATED, b"{}")  # only the promoter may announce a model
        await search.flush()
        await promoter.publish(subjects.MODEL_UPDATED, b"{}")
        assert (await updates.next_msg(timeout=5)).data == b"{}"  # the promoter's own, not the replica's
        with pytest.raises(nats.errors.TimeoutError):
            await updates.next_msg(timeout=0.5)
        assert any("permissions violation" in r.lower() for r in refused), refused
    finally:
        await search.close()
        await promoter.close()
    with pytest.raises((NoServersError, nats.errors.Error)):
        await nats.connect(servers, user="search", password=passwords["gateway"], allow_reconnect=False)
