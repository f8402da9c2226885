"""The deploy/ manifests parse, and every codesift container can find the NATS cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

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
    assert "8012:8012" in services["gateway"]["ports"]
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
    assert ("Service", "gateway") in by_kind_name
    nats = by_kind_name[("StatefulSet", "nats")]["spec"]
    assert nats["replicas"] == 3
    assert nats["volumeClaimTemplates"][0]["metadata"]["name"] == "jetstream"
    assert by_kind_name[("Service", "nats")]["spec"]["clusterIP"] == "None"
