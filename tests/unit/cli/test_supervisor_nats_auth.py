"""`codesift up`'s plan: nats-server runs on the generated config, each process logs in as its kind."""

from __future__ import annotations

import json

from codesift.supervisor import Supervisor
from shared.nats_auth import read_users


def test_each_process_gets_its_own_user_and_nats_server_its_config(tmp_path, monkeypatch):
    monkeypatch.delenv("CODESIFT_NATS_URL", raising=False)
    sup = Supervisor(tmp_path, port=18012, replicas=2)
    sup.nats_url = "nats://127.0.0.1:14222"
    sup.plan("embedder-dir")
    users = read_users(tmp_path)
    assert users is not None
    by_name = {s.name: s for s in sup.services}
    (nats,) = [s for s in sup.services if s.name == "nats"]
    assert nats.argv[1:] == ["-c", str(tmp_path / "secrets" / "nats-server.conf")]
    config = json.loads((tmp_path / "secrets" / "nats-server.conf").read_text())
    assert config["port"] == 14222 and config["host"] == "127.0.0.1"
    expected = {"indexer": "indexer", "search-1": "search", "search-2": "search", "gateway": "gateway"}
    expected |= {k: k for k in ("telemetry", "trainer", "evaluator", "promoter")}
    for name, kind in expected.items():
        env = by_name[name].env
        assert (env["CODESIFT_NATS_USER"], env["CODESIFT_NATS_PASSWORD"]) == (kind, users[kind]), name
    assert "CODESIFT_NATS_USER" not in nats.env
    assert not any(
        users[k] in " ".join(s.argv) for s in sup.services for k in users
    )  # never on a command line

    again = Supervisor(tmp_path, port=18012, replicas=1)  # a later start reuses the passwords
    again.nats_url = "nats://127.0.0.1:14333"
    again.plan("embedder-dir")
    assert read_users(tmp_path) == users
    assert json.loads((tmp_path / "secrets" / "nats-server.conf").read_text())["port"] == 14333


def test_with_a_nats_server_of_the_users_nothing_is_generated(tmp_path, monkeypatch):
    monkeypatch.setenv("CODESIFT_NATS_URL", "nats://elsewhere:4222")
    sup = Supervisor(tmp_path, port=18012, replicas=1)
    sup.plan("embedder-dir")
    assert "nats" not in {s.name for s in sup.services}
    assert not any("CODESIFT_NATS_USER" in s.env for s in sup.services)
    assert not (tmp_path / "secrets").exists()
