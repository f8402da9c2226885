"""`codesift up --cluster 3`'s plan: three routed nats-servers on valid configs, every service told
about all of them and about the replica count; even cluster sizes refused with the reason."""

from __future__ import annotations

import json
import stat
import subprocess

import pytest

from codesift.supervisor import Supervisor, UpError, check_cluster_size, nats_server_binary
from shared.nats_auth import KINDS, read_users
from shared.settings import Settings
from shared.streams import default_replicas


def planned(tmp_path, monkeypatch, cluster: int = 3) -> Supervisor:
    monkeypatch.delenv("CODESIFT_NATS_URL", raising=False)
    sup = Supervisor(tmp_path, port=18012, replicas=2, cluster=cluster)
    sup.choose_nats_ports()
    sup.plan("embedder-dir")
    return sup


def test_each_node_has_its_ports_store_name_and_routes_to_every_other(tmp_path, monkeypatch):
    sup = planned(tmp_path, monkeypatch)
    nodes = [s for s in sup.services if s.nats]
    assert [s.name for s in nodes] == ["nats-1", "nats-2", "nats-3"]
    configs = [json.loads((tmp_path / "secrets" / f"{s.name}.conf").read_text()) for s in nodes]
    for svc, config in zip(nodes, configs, strict=True):
        assert svc.argv[1:] == ["-c", str(tmp_path / "secrets" / f"{svc.name}.conf")]
        assert config["server_name"] == svc.name
        assert config["jetstream"]["store_dir"] == str(tmp_path / "nats" / svc.name)
        assert config["cluster"]["name"] == "codesift"
    ports = [c["port"] for c in configs]
    route_ports = [int(c["cluster"]["listen"].rsplit(":", 1)[1]) for c in configs]
    assert len(set(ports + route_ports)) == 6  # six distinct ports
    assert sup.nats_url == ",".join(f"nats://127.0.0.1:{p}" for p in ports)

    route = json.loads((tmp_path / "secrets" / "nats-route.json").read_text())
    expected_routes = [f"nats-route://route:{route['password']}@127.0.0.1:{p}" for p in route_ports]
    for config in configs:
        assert config["cluster"]["routes"] == expected_routes  # its own is ignored by nats-server
        assert config["cluster"]["authorization"]["user"] == "route"
        assert config["cluster"]["authorization"]["password"] == route["password"]
        assert config["authorization"] == configs[0]["authorization"]  # the same users everywhere
    users = read_users(tmp_path)
    assert users is not None
    assert [u["user"] for u in configs[0]["authorization"]["users"]] == list(KINDS)
    assert route["password"] not in users.values()
    for name in ("nats-1.conf", "nats-2.conf", "nats-3.conf", "nats-route.json"):
        assert stat.S_IMODE((tmp_path / "secrets" / name).stat().st_mode) == 0o600, name


def test_nats_server_accepts_every_node_config(tmp_path, monkeypatch):
    sup = planned(tmp_path, monkeypatch)
    for svc in (s for s in sup.services if s.nats):
        done = subprocess.run([nats_server_binary(), "-t", *svc.argv[1:]], capture_output=True, text=True)
        assert done.returncode == 0 and "is valid" in done.stderr, done.stderr


def test_services_get_every_url_and_three_replicas_and_the_stack_file_lists_the_nodes(tmp_path, monkeypatch):
    sup = planned(tmp_path, monkeypatch)
    for svc in sup.services:
        if svc.nats:
            assert "CODESIFT_NATS_URL" not in svc.env
            continue
        assert svc.env["CODESIFT_NATS_URL"] == sup.nats_url and sup.nats_url.count(",") == 2, svc.name
        assert svc.env["CODESIFT_JETSTREAM_REPLICAS"] == "3", svc.name
    sup.write_stack_file()
    record = json.loads((tmp_path / "stack.json").read_text())
    assert record["nats_url"] == sup.nats_url
    assert record["jetstream_replicas"] == 3
    assert [n["name"] for n in record["nats_nodes"]] == ["nats-1", "nats-2", "nats-3"]
    assert [n["url"] for n in record["nats_nodes"]] == sup.nats_url.split(",")
    # a command run by hand (no CODESIFT_JETSTREAM_REPLICAS) keeps the stack's 3 replicas
    assert default_replicas(Settings(data_dir=tmp_path), environ={}) == 3
    assert default_replicas(Settings(data_dir=tmp_path, jetstream_replicas=1), {"X": "1"}) == 3
    explicit = Settings(data_dir=tmp_path, jetstream_replicas=5)
    assert default_replicas(explicit, {"CODESIFT_JETSTREAM_REPLICAS": "5"}) == 5


def test_route_password_is_kept_across_starts(tmp_path, monkeypatch):
    planned(tmp_path, monkeypatch)
    first = (tmp_path / "secrets" / "nats-route.json").read_text()
    planned(tmp_path, monkeypatch)
    assert (tmp_path / "secrets" / "nats-route.json").read_text() == first


def test_one_node_is_the_single_server_as_before(tmp_path, monkeypatch):
    sup = planned(tmp_path, monkeypatch, cluster=1)
    assert [s.name for s in sup.services if s.nats] == ["nats"]
    config = json.loads((tmp_path / "secrets" / "nats-server.conf").read_text())
    assert "cluster" not in config and "server_name" not in config
    assert all("CODESIFT_JETSTREAM_REPLICAS" not in s.env for s in sup.services)
    assert default_replicas(Settings(data_dir=tmp_path), environ={}) == 1  # no stack.json yet


@pytest.mark.parametrize(
    ("n", "reason"),
    [(2, "no quorum once one dies"), (4, "survive one death, as 3 do"), (0, "at least 1"), (7, "at most 5")],
)
def test_cluster_sizes_without_a_gain_are_refused_with_the_reason(n, reason):
    with pytest.raises(UpError, match=reason) as err:
        check_cluster_size(n)
    assert f"--cluster {n}" in str(err.value)


@pytest.mark.parametrize("n", [1, 3, 5])
def test_odd_sizes_up_to_five_are_accepted(n):
    check_cluster_size(n)
