"""`codesift up --cluster 3`: every stream, bucket and object store on 3 replicas; the node leading
the feedback stream SIGKILLed under steady feedback and searches (through the gateway, as users
send them): a new leader is elected, no accepted event is lost or doubled, searches keep being
answered, and the restarted node rejoins. The scenario: tests/integration/cluster_failover.py;
bench/nats_cluster.py prints the same figures for README "NATS cluster".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration import cluster_failover
from tests.integration.stack import Stack, codesift

pytestmark = pytest.mark.slow
NODES = 3


def test_killing_the_feedback_leader_loses_no_event_and_fails_no_search(tmp_path: Path):
    stack = Stack(tmp_path / "data", replicas=1, extra=("--cluster", str(NODES)))
    try:
        stack.wait_ready()
        report = cluster_failover.run(stack, before=4.0, after=10.0)
        print("\n".join(report.lines()))
        where = "\n".join(report.lines()) + "\n" + stack.output()[-5000:]
        r, s, f = report.failover, report.load.searches, report.load.feedback

        assert r.replicas == dict.fromkeys(cluster_failover.STREAM_NAMES, (NODES, NODES)), where
        assert r.new_leader is not None, where  # another node, or the killed one once restarted
        assert r.restarted_s is not None and r.rejoined_s is not None, where
        assert len(report.load.accepted) > 40 and f.failed == 0, where
        assert report.lost == 0 and report.doubled == 0, where
        assert s.sent > 40 and s.failed == 0, where
        # an impression the bus did not take while IMPRESSIONS elected a leader is retried, not lost
        assert report.impressions_lost == 0, where
        assert f"{r.killed} exited with code -9" in stack.output(), where
        shown = codesift("status", data_dir=stack.data_dir)
        assert shown.returncode == 0, shown.stdout + shown.stderr
        line = next(x for x in shown.stdout.splitlines() if x.startswith("nats cluster codesift:"))
        others = sorted({"nats-1", "nats-2", "nats-3"} - {r.new_leader or ""})
        assert line.endswith(f"{r.new_leader} leads FEEDBACK; " + ", ".join(f"{n} current" for n in others))
    finally:
        stack.stop()
