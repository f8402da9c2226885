"""The deploy/ files start what the code can run: every codesift container runs a module that exists,
sets only CODESIFT_* variables its service's settings class reads (with values it accepts), gets what
it needs (three NATS servers, its own NATS user and password from a Secret or the env, JetStream
replicas 3, OpenSearch for search, the admin token for the gateway, a volume where its data lives),
is probed on a path and port it serves, and is scraped where it serves metrics. Kubernetes manifests
pass the Kubernetes API schemas (kubernetes-validate --strict, offline); the image installs what
`make install` installs."""

from __future__ import annotations

import copy
import importlib
import importlib.util
import inspect
import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import kubernetes_validate
import msgspec
import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from codesift.deploy_config import K8S_NODES, password_variable
from services.gateway.controllers.health import HealthController
from shared.bus import server_list
from shared.observability import HEALTH_PATH
from shared.secrets import ADMIN_TOKEN_VARIABLE
from shared.settings import PREFIX, Settings, SettingsError, from_env

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
YAML_FILES = sorted([*DEPLOY.rglob("*.yml"), *DEPLOY.rglob("*.yaml")])
NATS_URL = "CODESIFT_NATS_URL"
CODESIFT_SERVICES = {"gateway", "search", "indexer", "telemetry", "trainer", "evaluator", "promoter"}
K8S_VERSION = "1.33.0"  # a version every current cluster serves; the schemas ship with kubernetes-validate
COMPOSE_NATS_HOSTS = ["nats-1", "nats-2", "nats-3"]
SECRET = "secret-value"  # what a Secret or an env-file reference stands for when settings are built


def load(path: Path) -> list[Any]:
    with path.open() as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def k8s_documents() -> list[dict[str, Any]]:
    """Every Kubernetes object of deploy/k8s (not the kustomization)."""
    paths = sorted((DEPLOY / "k8s").glob("*.yaml"))
    return [doc for path in paths if path.name != "kustomization.yaml" for doc in load(path)]


def compose_services() -> dict[str, Any]:
    return load(DEPLOY / "docker-compose.yml")[0]["services"]


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_yaml_parses(path: Path) -> None:
    assert load(path)


# ---------------------------------------------------------------- what the code reads


def settings_class(module: str) -> type[Settings]:
    """The settings class `python -m <module>` reads: the Settings subclass its settings.py defines."""
    found = importlib.import_module(f"{module}.settings")
    classes = [
        value
        for value in vars(found).values()
        if inspect.isclass(value) and issubclass(value, Settings) and value.__module__ == found.__name__
    ]
    assert len(classes) == 1, (module, classes)
    return classes[0]


def serves_metrics_port(module: str) -> bool:
    """Services run by shared.service.run_service serve /metrics and /healthz on CODESIFT_METRICS_PORT;
    the gateway serves /metrics (and /api/health) on its HTTP port."""
    return "run_service(" in Path(importlib.util.find_spec(f"{module}.__main__").origin).read_text()


@dataclass
class Container:
    """One codesift container as a deployment file defines it, in the terms both files share."""

    where: str
    args: list[str]
    env: dict[str, str]  # a Secret or env-file reference is SECRET; `secrets` says which it is
    secrets: dict[str, str] = field(default_factory=dict)  # variable -> the Secret key / env variable
    mounts: dict[str, str] = field(default_factory=dict)  # mount path -> volume identity
    ports: set[int] = field(default_factory=set)  # ports the container declares
    scrape_port: int | None = None  # where Prometheus is told to scrape
    probes: list[tuple[str, int]] = field(default_factory=list)  # (path, port)

    @property
    def module(self) -> str:
        return self.args[0] if self.args else ""

    @property
    def kind(self) -> str:
        """The NATS user kind (shared/nats_auth.py KINDS): the indexer is a role of services.search."""
        return "indexer" if self.args[1:] == ["indexer"] else self.module.removeprefix("services.")


def mount_of(container: Container, path: Path) -> str | None:
    """The volume `path` lies on (the deepest mount above it), None when it is the container's own layer."""
    best = None
    for mount, volume in container.mounts.items():
        if PurePosixPath(path).is_relative_to(mount) and (best is None or len(mount) > len(best[0])):
            best = (mount, volume)
    return best[1] if best else None


def problems(c: Container, nats_hosts: list[str], opensearch_host: str) -> list[str]:
    """Everything wrong with one container; [] when it starts and works as the code expects."""
    found: list[str] = []
    if importlib.util.find_spec(c.module) is None or importlib.util.find_spec(f"{c.module}.__main__") is None:
        return [f"{c.where}: `python -m {c.module}` has no __main__"]
    cls = settings_class(c.module)
    fields = {PREFIX + f.name.upper() for f in msgspec.structs.fields(cls)}
    found += [
        f"{c.where}: {name} is read by no field of {cls.__name__}" for name in c.env if name not in fields
    ]
    try:
        settings = from_env(cls, c.env)
    except (SettingsError, ValueError) as exc:
        return [*found, f"{c.where}: {cls.__name__} refuses the environment: {exc}"]
    servers = server_list(settings.nats_url)
    if [re.sub(r"^nats://|:4222$", "", s) for s in servers] != nats_hosts:
        found.append(
            f"{c.where}: {NATS_URL}={settings.nats_url!r} does not name the 3 NATS nodes {nats_hosts}"
        )
    if settings.jetstream_replicas != 3:
        found.append(f"{c.where}: CODESIFT_JETSTREAM_REPLICAS must be 3 in a 3-node cluster")
    if settings.nats_user != c.kind:
        found.append(f"{c.where}: CODESIFT_NATS_USER={settings.nats_user!r}, expected its kind {c.kind!r}")
    if c.secrets.get("CODESIFT_NATS_PASSWORD") != password_variable(c.kind):
        found.append(f"{c.where}: CODESIFT_NATS_PASSWORD must come from {password_variable(c.kind)}")
    if mount_of(c, settings.data_dir) is None:
        found.append(f"{c.where}: no volume at CODESIFT_DATA_DIR={settings.data_dir}")
    if c.module == "services.gateway":
        if c.secrets.get(ADMIN_TOKEN_VARIABLE) is None:
            found.append(f"{c.where}: {ADMIN_TOKEN_VARIABLE} is required (from a Secret / the env file)")
        http = settings.http_port
        if settings.http_host != "0.0.0.0" or http not in c.ports | {c.scrape_port}:
            found.append(f"{c.where}: the gateway must listen on 0.0.0.0:{http} and declare that port")
        listening, health = http, HealthController.path
    else:
        listening, health = settings.metrics_port, HEALTH_PATH
        if not serves_metrics_port(c.module) or settings.metrics_host != "0.0.0.0" or not listening:
            found.append(f"{c.where}: CODESIFT_METRICS_HOST=0.0.0.0 and a fixed CODESIFT_METRICS_PORT needed")
    if c.scrape_port != listening:
        found.append(
            f"{c.where}: Prometheus is told port {c.scrape_port}, the service listens on {listening}"
        )
    found += [
        f"{c.where}: probe {path} on port {port}; the service answers {health} on {listening}"
        for path, port in c.probes
        if (path, port) != (health, listening)
    ]
    opensearch = f"http://{opensearch_host}:9200"
    if c.module == "services.search" and (
        settings.index_backend != "opensearch" or not settings.opensearch_url.startswith(opensearch)
    ):
        found.append(f"{c.where}: search needs CODESIFT_INDEX_BACKEND=opensearch and the OpenSearch URL")
    return found


def shared_log_problems(containers: dict[str, Container]) -> list[str]:
    """The trainer mines the query log telemetry writes: both must see it on the same volume."""
    from services.telemetry.settings import TelemetrySettings, log_file
    from services.trainer.settings import TrainerSettings

    telemetry, trainer = containers["telemetry"], containers["trainer"]
    try:
        written = log_file(from_env(TelemetrySettings, telemetry.env))
        mined = from_env(TrainerSettings, trainer.env).feedback_log
    except (SettingsError, ValueError):
        return []  # `problems` names the variable
    on, mined_on = mount_of(telemetry, written), mount_of(trainer, mined)
    if written != mined or on is None or on != mined_on:
        return [f"the trainer mines {mined} on {mined_on}, telemetry writes {written} on {on}"]
    return []


# ---------------------------------------------------------------- compose

COMPOSE_SECRET = re.compile(r"^\$\{(\w+):\?[^}]*\}$")  # ${VAR:?message}: compose refuses to start without it


def compose_container(name: str, service: dict[str, Any]) -> Container:
    env, secrets = {}, {}
    for key, value in service.get("environment", {}).items():
        if not key.startswith(PREFIX):
            continue
        if match := COMPOSE_SECRET.match(str(value)):
            env[key], secrets[key] = SECRET, match[1]
        else:
            env[key] = str(value)
    mounts = {}
    for volume in service.get("volumes", []):
        parts = volume.split(":")
        source, target = (parts[0], parts[1]) if len(parts) > 1 else (f"anonymous:{name}", parts[0])
        mounts[target] = source
    labels = service.get("labels", {})
    probe = " ".join(service.get("healthcheck", {}).get("test", []))
    probes = [(m[2], int(m[1])) for m in re.finditer(r"http://127\.0\.0\.1:(\d+)(/[\w/]+)", probe)]
    ports = {int(p.rsplit(":", 1)[1]) for p in service.get("ports", [])}
    scrape = int(labels["prometheus.io/port"]) if labels.get("prometheus.io/scrape") == "true" else None
    return Container(f"compose {name}", service["command"], env, secrets, mounts, ports, scrape, probes)


def compose_containers(services: dict[str, Any]) -> dict[str, Container]:
    return {name: compose_container(name, services[name]) for name in CODESIFT_SERVICES}


def compose_problems(services: dict[str, Any]) -> list[str]:
    containers = compose_containers(services)
    found = [p for c in containers.values() for p in problems(c, COMPOSE_NATS_HOSTS, "opensearch")]
    return found + shared_log_problems(containers)


def test_every_compose_service_starts_with_what_its_settings_read():
    services = compose_services()
    assert set(services) >= CODESIFT_SERVICES | set(COMPOSE_NATS_HOSTS) | {"opensearch", "prometheus"}
    assert compose_problems(services) == []
    assert services["search"]["deploy"]["replicas"] >= 2


def test_the_compose_checker_catches_what_would_break_a_start():
    good = compose_services()
    cases = {
        "an unread variable": (
            ("search", "environment"),
            {"CODESIFT_NO_SUCH_SETTING": "1"},
            "read by no field",
        ),
        "a bad value": (("trainer", "environment"), {"CODESIFT_JETSTREAM_REPLICAS": "three"}, "refuses"),
        "a hard-coded password": (
            ("indexer", "environment"),
            {"CODESIFT_NATS_PASSWORD": "hunter2"},
            "must come from",
        ),
        "two NATS servers": (
            ("gateway", "environment"),
            {NATS_URL: "nats://nats-1:4222,nats://nats-2:4222"},
            "3 NATS",
        ),
        "an embedded index": (
            ("search", "environment"),
            {"CODESIFT_INDEX_BACKEND": "embedded"},
            "opensearch",
        ),
        "a wrong scrape port": (
            ("evaluator", "labels"),
            {"prometheus.io/port": "9465"},
            "Prometheus is told",
        ),
    }
    for what, ((name, key), change, message) in cases.items():
        services = copy.deepcopy(good)
        services[name][key] = {**services[name][key], **change}
        assert any(message in p for p in compose_problems(services)), what
    services = copy.deepcopy(good)
    del services["gateway"]["environment"][ADMIN_TOKEN_VARIABLE]
    assert any(ADMIN_TOKEN_VARIABLE in p for p in compose_problems(services))
    services = copy.deepcopy(good)
    services["trainer"]["volumes"] = ["trainer-data:/data"]  # its own volume: the query log is not there
    assert any("the trainer mines" in p for p in compose_problems(services))
    services = copy.deepcopy(good)
    services["promoter"]["command"] = ["services.promotor"]
    assert any("no __main__" in p for p in compose_problems(services))


def test_compose_nats_nodes_run_the_generated_config_with_every_password_from_the_env_file():
    services = compose_services()
    auth = (DEPLOY / "nats" / "auth.conf").read_text()
    referenced = set(re.findall(r"\$(CODESIFT_NATS_PASSWORD_[A-Z]+)", auth))
    for node in COMPOSE_NATS_HOSTS:
        service = services[node]
        assert service["command"] == ["-c", "/etc/nats/nats.conf"], node
        assert "./nats:/etc/nats:ro" in service["volumes"] and f"{node}:/data" in service["volumes"], node
        env = service["environment"]
        assert env.pop("NATS_SERVER_NAME") == node
        assert set(env) == referenced, node
        assert all(COMPOSE_SECRET.match(v)[1] == k for k, v in env.items()), node  # never a literal password
    assert "store_dir: /data" in (DEPLOY / "nats" / "nats.conf").read_text()


def test_compose_publishes_on_this_host_only():
    for name, service in compose_services().items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
    assert "ports" not in compose_services()["opensearch"]  # its security plugin is off: never published


def docker_compose() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    return None


@pytest.mark.skipif(
    docker_compose() is None, reason="no `docker compose` plugin here (CI checks it where it exists)"
)
def test_docker_compose_accepts_the_file(tmp_path):
    env = tmp_path / "compose.env"
    env.write_text(
        "".join(
            f"{password_variable(k)}=p{'0' * 20}\n"
            for k in ("search", "indexer", "telemetry", "trainer", "evaluator", "promoter", "gateway", "cli")
        )
        + f"{ADMIN_TOKEN_VARIABLE}=t\n"
    )
    command = [
        *docker_compose(),
        "--env-file",
        str(env),
        "-f",
        str(DEPLOY / "docker-compose.yml"),
        "config",
        "-q",
    ]
    answer = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert answer.returncode == 0, answer.stderr


# ---------------------------------------------------------------- Kubernetes


def test_kustomization_lists_every_manifest() -> None:
    listed = set(load(DEPLOY / "k8s" / "kustomization.yaml")[0]["resources"])
    on_disk = {p.name for p in (DEPLOY / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


def validation_errors(doc: dict[str, Any]) -> str | None:
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}: {exc.message}"
    return None


def test_every_k8s_manifest_passes_the_kubernetes_schemas_strictly():
    docs = k8s_documents()
    assert {doc["kind"] for doc in docs} >= {
        "Deployment",
        "StatefulSet",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
    }
    assert [e for doc in docs if (e := validation_errors(doc))] == []


def test_the_schema_check_refuses_a_misspelt_or_mistyped_field():
    [deployment] = [
        d for d in k8s_documents() if d["kind"] == "Deployment" and d["metadata"]["name"] == "search"
    ]
    misspelt = copy.deepcopy(deployment)
    misspelt["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    assert validation_errors(misspelt) is not None
    mistyped = copy.deepcopy(deployment)
    mistyped["spec"]["replicas"] = "three"
    assert validation_errors(mistyped) is not None


def k8s_container(deployment: dict[str, Any], configmaps: dict[str, dict[str, str]]) -> Container:
    spec = deployment["spec"]["template"]["spec"]
    [c] = spec["containers"]
    env: dict[str, str] = {}
    secrets: dict[str, str] = {}
    for source in c.get("envFrom", []):
        env |= configmaps[source["configMapRef"]["name"]]
    for item in c.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = SECRET
            secrets[item["name"]] = ref["key"] if not ref.get("optional") else ""
            if item["name"] == ADMIN_TOKEN_VARIABLE and ref != {
                "name": "codesift-admin-token",
                "key": "token",
            }:
                secrets.pop(item["name"])
            if item["name"] == "CODESIFT_NATS_PASSWORD" and ref["name"] != "codesift-nats-users":
                secrets.pop(item["name"])
    volumes = {}
    for v in spec.get("volumes", []):
        claim = v.get("persistentVolumeClaim", {}).get("claimName")
        volumes[v["name"]] = f"pvc:{claim}" if claim else f"{deployment['metadata']['name']}:{v['name']}"
    mounts = {m["mountPath"]: volumes[m["name"]] for m in c.get("volumeMounts", [])}
    named = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
    probes = []
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = c.get(kind, {}).get("httpGet")
        if get is None:
            probes.append((f"no {kind}", 0))
            continue
        port = get["port"]
        probes.append((get["path"], named.get(port, -1) if isinstance(port, str) else port))
    annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
    scrape = (
        int(annotations["prometheus.io/port"]) if annotations.get("prometheus.io/scrape") == "true" else None
    )
    name = deployment["metadata"]["name"]
    return Container(
        f"k8s {name}", c.get("args", []), env, secrets, mounts, set(named.values()), scrape, probes
    )


def k8s_problems(docs: list[dict[str, Any]]) -> list[str]:
    configmaps = {d["metadata"]["name"]: d["data"] for d in docs if d["kind"] == "ConfigMap"}
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    containers = {name: k8s_container(d, configmaps) for name, d in deployments.items()}
    found = (
        [f"k8s: Deployments {sorted(deployments)} are not {sorted(CODESIFT_SERVICES)}"]
        if set(deployments) != CODESIFT_SERVICES
        else []
    )
    found += [p for c in containers.values() for p in problems(c, K8S_NODES, "opensearch")]
    return found + shared_log_problems(containers)


def test_every_k8s_deployment_starts_with_what_its_settings_read_and_is_probed_where_it_answers():
    assert k8s_problems(k8s_documents()) == []


def test_the_k8s_checker_catches_what_would_break_a_start():
    good = k8s_documents()

    def changed(name: str, change) -> list[str]:
        docs = copy.deepcopy(good)
        [d] = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == name]
        change(d["spec"]["template"]["spec"]["containers"][0])
        return k8s_problems(docs)

    assert any(
        "read by no field" in p
        for p in changed(
            "telemetry", lambda c: c["env"].append({"name": "CODESIFT_RERANKER_TOPN", "value": "5"})
        )
    )
    assert any(
        "probe /metrics" in p
        for p in changed("search", lambda c: c["readinessProbe"]["httpGet"].update(path="/metrics"))
    )
    assert any("no livenessProbe" in p for p in changed("trainer", lambda c: c.pop("livenessProbe")))
    assert any(
        "must come from" in p
        for p in changed(
            "promoter",
            lambda c: c["env"][1]["valueFrom"]["secretKeyRef"].update(key="CODESIFT_NATS_PASSWORD_GATEWAY"),
        )
    )
    assert any(ADMIN_TOKEN_VARIABLE in p for p in changed("gateway", lambda c: c["env"].pop(2)))


def by_kind_name(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in docs}


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and selector.items() <= labels.items()


def test_the_search_pdb_and_hpa_act_on_the_search_deployment():
    docs = by_kind_name(k8s_documents())
    search = docs[("Deployment", "search")]
    labels = search["spec"]["template"]["metadata"]["labels"]
    pdb = docs[("PodDisruptionBudget", "search")]["spec"]
    assert selects(pdb["selector"]["matchLabels"], labels)
    assert 1 <= pdb["minAvailable"] < search["spec"]["replicas"]  # a drain can always proceed
    hpa = docs[("HorizontalPodAutoscaler", "search")]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "search"}
    assert hpa["minReplicas"] == search["spec"]["replicas"] and hpa["maxReplicas"] > hpa["minReplicas"]
    assert pdb["minAvailable"] < hpa["minReplicas"]
    others = [d for (kind, name), d in docs.items() if kind == "Deployment" and name != "search"]
    assert not any(
        selects(pdb["selector"]["matchLabels"], d["spec"]["template"]["metadata"]["labels"]) for d in others
    )


def test_the_nats_statefulset_is_a_cluster_on_volumes_behind_a_headless_service():
    docs = by_kind_name(k8s_documents())
    nats = docs[("StatefulSet", "nats")]["spec"]
    service = docs[("Service", nats["serviceName"])]["spec"]
    assert service["clusterIP"] == "None" and selects(
        service["selector"], nats["template"]["metadata"]["labels"]
    )
    assert nats["replicas"] == 3 == len(K8S_NODES)
    assert [f"{nats['serviceName']}-{i}.{nats['serviceName']}" for i in range(3)] == K8S_NODES
    [claim] = nats["volumeClaimTemplates"]
    [c] = nats["template"]["spec"]["containers"]
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == "/data"  # the store_dir of the generated nats.conf
    assert c["args"] == ["-c", f"{mounts['config']}/nats.conf"]
    [config] = [v for v in nats["template"]["spec"]["volumes"] if v["name"] == "config"]
    data = docs[("ConfigMap", config["configMap"]["name"])]["data"]
    assert "store_dir: /data" in data["nats.conf"] and "server_name: $POD_NAME" in data["nats.conf"]
    assert c["env"][0] == {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    assert c["envFrom"] == [{"secretRef": {"name": "codesift-nats-users"}}]  # the passwords auth.conf reads
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"client": 4222, "cluster": 6222, "monitor": 8222}
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[kind]["httpGet"]["path"].startswith("/healthz") and c[kind]["httpGet"]["port"] == "monitor"


def test_opensearch_is_one_node_on_a_volume_behind_the_service_search_uses():
    docs = by_kind_name(k8s_documents())
    sts = docs[("StatefulSet", "opensearch")]["spec"]
    service = docs[("Service", "opensearch")]["spec"]
    assert (
        selects(service["selector"], sts["template"]["metadata"]["labels"])
        and service["ports"][0]["port"] == 9200
    )
    [c] = sts["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["discovery.type"] == "single-node" and sts["replicas"] == 1
    assert sts["volumeClaimTemplates"][0]["metadata"]["name"] == c["volumeMounts"][0]["name"]


# ---------------------------------------------------------------- the image


def makefile_install_steps() -> list[str]:
    """The commands `make install` runs, as make expands them (the venv's bin/ left off)."""
    if shutil.which("make") is None:
        pytest.skip("no make here")
    out = subprocess.run(
        ["make", "-n", "-B", "install", "TORCH_INDEX=https://download.pytorch.org/whl/cpu"],
        capture_output=True, text=True, check=True, cwd=DEPLOY.parent,
    ).stdout  # fmt: skip
    steps = []
    for line in out.splitlines():
        line = " ".join(line.replace(".venv/bin/", "").split())
        if line.startswith("test -x"):
            steps.append("python -m venv VENV")
        elif line.startswith("pip "):
            steps.append(line.replace("requirements-dev.txt", "requirements.txt"))
    return steps


def dockerfile_install_steps(text: str) -> list[str]:
    steps = []
    for line in text.splitlines():
        if line.startswith("RUN python -m venv"):
            steps.append("python -m venv VENV")
        elif line.startswith("RUN pip "):
            steps.append(" ".join(line.removeprefix("RUN ").split()))
    return steps


def test_the_image_installs_the_venv_as_make_install_does():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    make = makefile_install_steps()
    assert make[0] == "python -m venv VENV" and make[2].startswith(
        "pip install -q torch==2.13.0 "
    )  # torch first
    assert dockerfile_install_steps(dockerfile) == make
    assert (DEPLOY.parent / "requirements-dev.txt").read_text().splitlines()[0] == "-r requirements.txt"
    assert "PATH=/opt/venv/bin:$PATH" in dockerfile and "VIRTUAL_ENV=/opt/venv" in dockerfile
    # the embedder is exported where the services look for it (CODESIFT_CACHE_DIR)
    cache = re.search(r"CODESIFT_CACHE_DIR=(\S+)", dockerfile)[1]
    assert f"export_embedder --cache-dir {cache}" in dockerfile


def test_the_image_check_notices_a_step_that_differs():
    dockerfile = (DEPLOY / "Dockerfile").read_text().replace("torch==2.13.0", "torch")
    assert dockerfile_install_steps(dockerfile) != makefile_install_steps()


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


def test_compose_prometheus_scrapes_every_codesift_container_where_it_serves_metrics():
    services = compose_services()
    for name in CODESIFT_SERVICES - {"gateway"}:  # the gateway serves /metrics on its HTTP port
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
    assert "127.0.0.1:9090:9090" in compose_services()["prometheus"]["ports"]


def test_every_k8s_pod_is_annotated_for_prometheus_at_the_port_it_serves_metrics_on():
    docs = k8s_documents()
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
        if name != "gateway":
            env = {e["name"]: e.get("value") for e in container["env"]}
            assert (env["CODESIFT_METRICS_HOST"], env["CODESIFT_METRICS_PORT"]) == ("0.0.0.0", METRICS_PORT)
