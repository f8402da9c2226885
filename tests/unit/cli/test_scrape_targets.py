"""`codesift up` gives every service a metrics port and tells Prometheus where they all are."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from codesift.scrape_targets import service_of
from codesift.supervisor import Supervisor
from shared.bus import stack_file
from shared.settings import settings


@pytest.fixture
def fresh_settings():
    settings.cache_clear()
    yield
    settings.cache_clear()


def planned(data_dir: Path, replicas: int) -> Supervisor:
    sup = Supervisor(data_dir, port=18012, replicas=replicas)
    sup.nats_url = "nats://127.0.0.1:14222"
    sup.plan("/nowhere/embedder")
    return sup


def test_each_process_gets_its_own_port_and_prometheus_gets_every_target(tmp_path, fresh_settings):
    sup = planned(tmp_path, replicas=3)
    services = [svc for svc in sup.services if svc.name not in ("nats", "gateway")]
    ports = {svc.name: int(svc.env["CODESIFT_METRICS_PORT"]) for svc in services}
    replicas = {"search-1", "search-2", "search-3"}
    assert set(ports) == replicas | {"indexer", "telemetry", "trainer", "evaluator", "promoter"}
    assert len(set(ports.values())) == len(ports)  # N replicas on one machine: N ports
    gateway = next(svc for svc in sup.services if svc.name == "gateway")
    assert "CODESIFT_METRICS_PORT" not in gateway.env  # it serves /metrics on its HTTP port

    sup.write_stack_file()
    record = json.loads(stack_file(tmp_path).read_text())
    assert record["nats_url"] == sup.nats_url
    assert record["metrics"]["gateway"] == "http://127.0.0.1:18012/metrics"
    assert record["metrics"]["search-2"] == f"http://127.0.0.1:{ports['search-2']}/metrics"
    targets = json.loads((tmp_path / "prometheus" / "targets.json").read_text())
    found = {entry["labels"]["process"]: (entry["targets"], entry["labels"]["service"]) for entry in targets}
    assert found["gateway"] == (["127.0.0.1:18012"], "gateway")
    assert found["search-3"] == ([f"127.0.0.1:{ports['search-3']}"], "search")
    assert len(found) == len(ports) + 1
    config = yaml.safe_load((tmp_path / "prometheus" / "prometheus.yml").read_text())
    [job] = config["scrape_configs"]
    assert job["file_sd_configs"][0]["files"] == [str(tmp_path.resolve() / "prometheus" / "targets.json")]


def test_with_metrics_off_no_port_is_assigned_and_no_targets_written(tmp_path, monkeypatch, fresh_settings):
    monkeypatch.setenv("CODESIFT_METRICS", "false")
    sup = planned(tmp_path, replicas=2)
    assert all("CODESIFT_METRICS_PORT" not in svc.env for svc in sup.services)
    sup.write_stack_file()
    assert "metrics" not in json.loads(stack_file(tmp_path).read_text())
    assert not (tmp_path / "prometheus").exists()


@pytest.mark.parametrize(
    ("process", "service"),
    [("search-12", "search"), ("gateway", "gateway"), ("my-service", "my-service"), ("x-2", "x")],
)
def test_replicas_share_their_service_name(process, service):
    assert service_of(process) == service
