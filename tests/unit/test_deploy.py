"""The deploy/ manifests parse, every codesift container can find the NATS cluster, and Prometheus and
Grafana find every metric where it is served."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
YAML_FILES = sorted([*DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml")])
NATS_URL = "CODESIFT_NATS_URL"
CODESIFT_SERVICES = {"gateway", "search", "indexer", "telemetry", "trainer", "evaluator", "promoter"}


def load(path: Path) -> list[Any]:
    with path.open() as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def k8s_documents() -> list[dict[str, Any]]:
    """Every Kubernetes object of deploy/k8s (not the kustomization)."""
    paths = sorted((DEPLOY / "k8s").glob("*.yaml"))
    return [doc for path in paths if path.name != "kustomization.yaml" for doc in load(path)]


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_yaml_parses(path: Path) -> None:
    assert load(path)


def test_compose_defines_the_stack() -> None:
    services = load(DEPLOY / "docker-compose.yml")[0]["services"]
    assert {"nats-1", "nats-2", "nats-3"} | CODESIFT_SERVICES <= set(services)
    assert services["search"]["deploy"]["replicas"] >= 2
    assert services["gateway"]["ports"] == ["127.0.0.1:8012:8012"]  # this host only, unless told otherwise
    assert "CODESIFT_ADMIN_TOKEN" in services["gateway"]["environment"]  # mutating endpoints are protected
    for name in CODESIFT_SERVICES:
        env = services[name]["environment"]
        assert env[NATS_URL] == "nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222", name
        assert env["CODESIFT_DATA_DIR"] == "/data", name
        module = "search" if name == "indexer" else name  # the indexer is a role of the search service
        assert services[name]["command"][0] == f"services.{module}", name


def test_compose_nats_nodes_form_one_jetstream_cluster() -> None:
    services = load(DEPLOY / "docker-compose.yml")[0]["services"]
    for node in ("nats-1", "nats-2", "nats-3"):
        args = services[node]["command"]
        assert "-js" in args and f"--server_name={node}" in args
        assert "--routes=nats://nats-1:6222,nats://nats-2:6222,nats://nats-3:6222" in args
        assert f"{node}:/data" in services[node]["volumes"]


def test_kustomization_lists_every_manifest() -> None:
    listed = set(load(DEPLOY / "k8s" / "kustomization.yaml")[0]["resources"])
    on_disk = {p.name for p in (DEPLOY / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


def test_every_k8s_codesift_container_gets_the_nats_url() -> None:
    docs = k8s_documents()
    configmaps = {doc["metadata"]["name"]: doc["data"] for doc in docs if doc["kind"] == "ConfigMap"}
    deployments = {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == "Deployment"}
    assert set(deployments) == CODESIFT_SERVICES
    for name, deployment in deployments.items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            direct = {env["name"] for env in container.get("env", [])}
            from_maps = {
                key
                for source in container.get("envFrom", [])
                for key in configmaps[source["configMapRef"]["name"]]
            }
            assert NATS_URL in direct | from_maps, name


def test_k8s_search_and_gateway_and_nats() -> None:
    docs = k8s_documents()
    by_kind_name = {(doc["kind"], doc["metadata"]["name"]): doc for doc in docs}
    assert by_kind_name[("Deployment", "search")]["spec"]["replicas"] == 3
    gateway = by_kind_name[("Deployment", "gateway")]["spec"]["template"]["spec"]["containers"][0]
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/api/health"
    env = {e["name"]: e for e in gateway["env"]}
    token = env["CODESIFT_ADMIN_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert token == {"name": "codesift-admin-token", "key": "token"}  # required: no optional flag
    assert ("Service", "gateway") in by_kind_name
    nats = by_kind_name[("StatefulSet", "nats")]["spec"]
    assert nats["replicas"] == 3
    assert nats["volumeClaimTemplates"][0]["metadata"]["name"] == "jetstream"
    assert by_kind_name[("Service", "nats")]["spec"]["clusterIP"] == "None"


# ---------------------------------------------------------------- metrics: Prometheus and Grafana

ROOT = DEPLOY.parent
METRICS_PORT = "9464"
GATEWAY_PORT = "8012"
METRIC_NAME = re.compile(r"\bcodesift_[a-z0-9_]+")
SUFFIXES = {  # sample names of each kind of metric, after its family name
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "gauge": ("",),
    "info": ("_info",),
}


def defined_metrics() -> dict[str, str]:
    """Every metric the code defines (modules that import prometheus_client): family name -> type."""
    found: dict[str, str] = {}
    for path in sorted([*(ROOT / "shared").rglob("*.py"), *(ROOT / "services").rglob("*.py")]):
        if "from prometheus_client import" not in path.read_text():
            continue
        module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
        for value in vars(module).values():
            if isinstance(value, MetricWrapperBase):
                for family in value.describe():
                    found[family.name] = family.type
    return found


def sample_names(metrics: dict[str, str]) -> set[str]:
    return {name + suffix for name, kind in metrics.items() for suffix in SUFFIXES[kind]}


def dashboard_expressions() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "codesift.json").read_text())
    return [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]


def test_metric_names_follow_prometheus_conventions():
    metrics = defined_metrics()
    assert len(metrics) >= 20
    for name, kind in metrics.items():
        assert name.startswith("codesift_"), name
        assert kind in SUFFIXES, (name, kind)
        assert not name.endswith("_total"), name  # prometheus_client adds it to counters' samples
        if kind == "histogram":
            assert name.endswith("_seconds"), name


def test_the_dashboard_uses_every_metric_and_only_metrics_the_code_defines():
    metrics = defined_metrics()
    names = sample_names(metrics)
    expressions = dashboard_expressions()
    used = {name for expr in expressions for name in METRIC_NAME.findall(expr)}
    assert used and used <= names, used - names
    unused = {name for name, kind in metrics.items() if not any(name + s in used for s in SUFFIXES[kind])}
    assert not unused, unused
    for expr in expressions:
        assert expr.count("(") == expr.count(")"), expr
        assert "query" not in expr  # never a label made from what users typed


def compose_services() -> dict[str, Any]:
    return load(DEPLOY / "docker-compose.yml")[0]["services"]


def test_compose_prometheus_scrapes_every_codesift_container_where_it_serves_metrics():
    services = compose_services()
    for name in CODESIFT_SERVICES:
        env = services[name]["environment"]
        assert (env["CODESIFT_METRICS_HOST"], env["CODESIFT_METRICS_PORT"]) == ("0.0.0.0", METRICS_PORT), name
    prometheus = services["prometheus"]
    assert "./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
    config = load(DEPLOY / "prometheus" / "prometheus.yml")[0]
    static = {
        target
        for job in config["scrape_configs"]
        for group in job.get("static_configs", [])
        for target in group["targets"]
    }
    dns = {
        (name, sd["port"]) for job in config["scrape_configs"] for sd in job.get("dns_sd_configs", [])
        for name in sd["names"]
    }  # fmt: skip
    assert f"gateway:{GATEWAY_PORT}" in static
    assert ("search", int(METRICS_PORT)) in dns  # every replica, however many are scaled
    assert {f"{name}:{METRICS_PORT}" for name in CODESIFT_SERVICES - {"gateway", "search"}} <= static


def test_compose_grafana_loads_the_dashboard_from_prometheus():
    grafana = compose_services()["grafana"]
    provider = load(DEPLOY / "grafana" / "provisioning" / "dashboards" / "codesift.yml")[0]["providers"][0]
    dashboard_mount = "./grafana/codesift.json:" + provider["options"]["path"] + "/codesift.json:ro"
    assert dashboard_mount in grafana["volumes"]
    [source] = load(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml")[0]["datasources"]
    assert source["url"] == "http://prometheus:9090"
    assert "9090:9090" in compose_services()["prometheus"]["ports"]


def test_every_k8s_pod_is_annotated_for_prometheus_at_the_port_it_serves_metrics_on():
    docs = k8s_documents()
    [settings] = [doc["data"] for doc in docs if doc["kind"] == "ConfigMap"]
    assert (settings["CODESIFT_METRICS_HOST"], settings["CODESIFT_METRICS_PORT"]) == ("0.0.0.0", METRICS_PORT)
    for deployment in (doc for doc in docs if doc["kind"] == "Deployment"):
        name = deployment["metadata"]["name"]
        template = deployment["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true", name
        assert annotations["prometheus.io/path"] == "/metrics", name
        [container] = template["spec"]["containers"]
        ports = {str(p["containerPort"]) for p in container["ports"]}
        expected = GATEWAY_PORT if name == "gateway" else METRICS_PORT
        assert annotations["prometheus.io/port"] == expected and expected in ports, name
