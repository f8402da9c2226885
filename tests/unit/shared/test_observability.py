"""Where a process serves its metrics, and the job metrics every JobReporter keeps (real nats-server)."""

from __future__ import annotations

import asyncio
import socket
import urllib.request

import nats
import pytest
from prometheus_client import Counter

from shared.jobs import JobReporter
from shared.observability import metrics_text, serve_metrics
from shared.settings import Settings, SettingsError, from_env
from shared.streams import bootstrap
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
