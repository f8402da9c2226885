"""Where a process serves its metrics, and the job metrics every JobReporter keeps (real nats-server)."""

from __future__ import annotations

import asyncio
import socket
import urllib.error
import urllib.request

import nats
import pytest
from faststream import FastStream
from prometheus_client import Counter

from shared.health import DISCONNECTED, STARTING, STOPPING, ServiceHealth
from shared.jobs import JobReporter
from shared.observability import metrics_text, serve_metrics
from shared.service import make_broker
from shared.settings import Settings, SettingsError, from_env
from shared.streams import bootstrap
from tests.conftest import start_nats
from tests.prometheus_samples import parse, sample, total

PROBE = Counter("codesift_test_probe_total", "Moved by tests/unit/shared/test_observability.py only")


def test_a_service_serves_its_metrics_on_the_port_it_is_given_or_a_free_one():
    port = serve_metrics(Settings(metrics_port=0), "test")
    assert port is not None and port > 0
    PROBE.inc(3)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        samples = parse(answer.read().decode())
    assert total(samples, "codesift_test_probe_total") == sample("codesift_test_probe_total") >= 3
    assert total(samples, "process_cpu_seconds_total") > 0  # the process's own figures come along


def test_metrics_off_opens_no_port():
    assert serve_metrics(Settings(metrics=False, metrics_port=1), "test") is None
    assert from_env(Settings, {"CODESIFT_METRICS": "false"}).metrics is False


def test_a_port_in_use_stops_the_service_naming_the_variable():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SettingsError) as err:
            serve_metrics(Settings(metrics_port=port), "test")
    assert str(err.value).startswith(f"CODESIFT_METRICS_PORT={port}: cannot listen on 127.0.0.1:{port}")


def test_a_bad_metrics_port_fails_at_start_up_naming_the_variable():
    with pytest.raises(SettingsError, match=r"^CODESIFT_METRICS_PORT='70000': .*<= 65535"):
        from_env(Settings, {"CODESIFT_METRICS_PORT": "70000"})


def test_the_text_format_follows_what_prometheus_asks_for():
    plain, plain_type = metrics_text("")
    assert plain_type.startswith("text/plain; version=0.0.4")
    assert b"codesift_test_probe_total" in plain
    open_metrics, open_type = metrics_text("application/openmetrics-text; version=1.0.0")
    assert open_type.startswith("application/openmetrics-text")
    assert open_metrics.rstrip().endswith(b"# EOF")


def job_samples(kind: str) -> dict[str, float]:
    found = {"running": sample("codesift_jobs_running", kind=kind)}
    for state in ("succeeded", "failed"):
        found[state] = sample("codesift_jobs_total", kind=kind, outcome=state)
        found[f"{state}_timed"] = sample("codesift_job_duration_seconds_count", kind=kind, outcome=state)
    found["seconds"] = sample("codesift_job_duration_seconds_sum", kind=kind, outcome="succeeded")
    return found


async def test_jobs_are_counted_by_kind_and_outcome_with_how_long_they_ran(nats_server):
    nc = await nats.connect(nats_server.url)
    try:
        js = await bootstrap(nc)
        job = JobReporter(nc, js, "train-1", "test-train", min_interval=0)
        await job.report("running", 0.0, "started")
        await job.report("running", 0.5, "half way")  # the same job: still one running
        assert job_samples("test-train")["running"] == 1
        await asyncio.sleep(0.2)
        await job.report("succeeded", 1.0, "done")
        await job.report("failed", 0.0, "a late copy of the end")  # a job ends once
        ended = job_samples("test-train")
        assert {k: ended[k] for k in ("succeeded", "failed", "running", "succeeded_timed")} == {
            "succeeded": 1, "failed": 0, "running": 0, "succeeded_timed": 1
        }  # fmt: skip
        assert 0.2 <= ended["seconds"] < 5

        # a job failed before it ran (a restart marks an interrupted one failed): counted, not timed
        await JobReporter(nc, js, "train-2", "test-train").report("failed", 0.0, "interrupted")
        after = job_samples("test-train")
        assert (after["failed"], after["failed_timed"], after["running"]) == (1, 0, 0)
    finally:
        await nc.close()


def healthz(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            return answer.status, answer.read().decode().strip()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode().strip()


async def wait_for(port: int, status: int, timeout: float = 10.0) -> tuple[int, str]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        answer = await asyncio.to_thread(healthz, port)
        if answer[0] == status or asyncio.get_running_loop().time() > deadline:
            return answer
        await asyncio.sleep(0.05)


async def test_healthz_answers_200_only_while_the_app_runs_connected_to_nats(nats_server):
    """What deploy/ probes: 503 while starting, 200 once started, 503 while NATS is away, 200 back."""
    health = ServiceHealth()
    port = serve_metrics(Settings(metrics_port=0), "test", health.problem)
    assert port is not None
    assert await asyncio.to_thread(healthz, port) == (503, STARTING)
    app = FastStream(make_broker(Settings(nats_url=nats_server.url)))
    health.watch(app)
    assert await asyncio.to_thread(healthz, port) == (503, STARTING)  # watched, not yet started
    await app.start()
    back = None
    try:
        assert await wait_for(port, 200) == (200, "ok")
        nats_server.stop()  # the broker reconnects for ever; until then the service is not healthy
        assert await wait_for(port, 503) == (503, DISCONNECTED)
        back = start_nats(nats_server.store, nats_server.port)
        assert await wait_for(port, 200) == (200, "ok")
    finally:
        if back is not None:  # stopping drains the connection: only with a server to drain to
            await app.stop()
            back.stop()
    assert await asyncio.to_thread(healthz, port) == (503, STOPPING)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        assert b"process_cpu_seconds_total" in answer.read()  # metrics beside it, as before
