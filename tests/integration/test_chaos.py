"""Chaos on a real stack: processes killed in turn under steady searches and feedback; nothing lost.

A shorter run than bench/chaos.py (which kills every process and prints the figures for README).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from shared.artifacts import VERSION_PREFIX
from tests.integration import chaos
from tests.integration.stack import Stack
from tests.model_fixtures import tiny_model_fixture  # noqa: F401  (fixture `tiny_model`)

pytestmark = pytest.mark.slow
FAULTS = ("trainer mid-job", "nats", "search-2", "telemetry", "gateway", chaos.NEW_JOB)


def test_killed_processes_come_back_and_no_accepted_event_or_search_is_lost(
    tmp_path_factory: pytest.TempPathFactory, tiny_model: Path
):
    stack = Stack(tmp_path_factory.mktemp("chaos") / "data", replicas=2, env=chaos.NO_AUTO_PROMOTION)
    try:
        stack.wait_ready()
        version = VERSION_PREFIX + time.strftime("%Y%m%d-%H%M%S")  # its own entry in the model cache
        served = chaos.prepare(stack, tiny_model, version)
        report = chaos.run(stack, served, FAULTS, min_duration=30.0, pause=0.5, say=print)
        print("\n".join(report.lines()))
        where = "\n".join(report.lines()) + "\n" + stack.output()[-6000:]

        assert report.events_accepted > 100, where
        assert report.events_lost == 0 and report.events_duplicated == 0, where
        assert report.searches.sent > 100 and report.searches.failed == 0, where
        assert report.feedback.failed == 0, where
        assert all(f.recovery_s is not None for f in report.faults), where
        assert report.searches.failed_attempts["gateway down"] > 0, where  # the gateway kill was felt
        assert report.killed_job["state"] == "failed", where
        assert "stopped mid-job" in report.killed_job["message"], where
        assert report.new_job["state"] == "succeeded", where
        assert report.production_before == report.production_after == version, where
        assert [v for _, *v in report.replicas_served] == [[served.index_version, version]] * 2, where
        assert report.cache_repaired, where
        assert "restarting in" in stack.output()
    finally:
        stack.stop()
