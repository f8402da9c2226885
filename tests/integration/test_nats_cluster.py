"""`codesift up --cluster 3`: every stream, bucket and object store on 3 replicas; the node leading
the feedback stream SIGKILLed under steady feedback and searches (through the gateway, as users
send them): a new leader is elected, no accepted event is lost or doubled, searches keep being
answered, and the restarted node rejoins.

The load is tests/integration/chaos.py's (5 searches and 5 feedback events a second, a client
retrying a failed request within chaos.WINDOW_S, the same event id each time). The figures are
printed (`pytest -s`) and quoted in README "NATS cluster".
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import nats.errors
import pytest
from nats.aio.client import Client

from shared.streams import KV_BUCKETS, OBJECT_STORES, STREAMS
from tests.integration import chaos
from tests.integration.stack import Stack, codesift

pytestmark = pytest.mark.slow
NODES = 3
BEFORE_S = 4.0  # load before the kill
AFTER_S = 10.0  # load after the kill
STREAM_NAMES = (
    [s.name for s in STREAMS] + [f"KV_{b.bucket}" for b in KV_BUCKETS] + [f"OBJ_{b}" for b in OBJECT_STORES]
)


@dataclass
class Failover:
    killed: str = ""
    new_leader: str | None = None
    to_new_leader_s: float | None = None  # from the SIGKILL until stream info names another leader
    rejoined_s: float | None = None  # from the SIGKILL until the killed node is a current replica again
    polls_failed: int = 0  # stream info requests unanswered meanwhile (the election)
    replicas: dict[str, tuple[int, int]] = field(default_factory=dict)  # stream -> (config, peers seen)


async def feedback_cluster(nc: Client):
    return (await nc.jetstream(timeout=1).stream_info("FEEDBACK")).cluster


async def survey(stack: Stack, report: Failover) -> None:
    """Every stream's configured replicas and the peers its cluster info lists (leader included)."""
    nc = await stack.nats_connect()
    try:
        js = nc.jetstream()
        for name in STREAM_NAMES:
            info = await js.stream_info(name)
            peers = len(info.cluster.replicas or []) + 1 if info.cluster and info.cluster.leader else 0
            report.replicas[name] = (info.config.num_replicas or 0, peers)
    finally:
        await nc.close()


async def kill_feedback_leader(stack: Stack, report: Failover) -> None:
    nc = await stack.nats_connect(reconnect_time_wait=0.25, max_reconnect_attempts=-1)
    try:
        cluster = await feedback_cluster(nc)
        assert cluster is not None and cluster.leader, cluster
        report.killed = cluster.leader
        old_pid = chaos.process_of(stack, report.killed).pid
        os.kill(old_pid, signal.SIGKILL)
        killed_at = time.monotonic()
        while time.monotonic() - killed_at < 60 and report.rejoined_s is None:
            await asyncio.sleep(0.1)
            try:
                cluster = await feedback_cluster(nc)
            except (nats.errors.Error, TimeoutError, OSError):
                report.polls_failed += 1
                continue
            if cluster is None or not cluster.leader:
                continue
            if report.new_leader is None and cluster.leader != report.killed:
                report.new_leader = cluster.leader
                report.to_new_leader_s = round(time.monotonic() - killed_at, 2)
            peers = {p.name: p for p in cluster.replicas or []}
            back = peers.get(report.killed)
            if report.new_leader and back is not None and back.current and not back.offline:
                report.rejoined_s = round(time.monotonic() - killed_at, 2)
        wait = AFTER_S - (time.monotonic() - killed_at)
        await asyncio.sleep(max(0.0, wait))
        assert chaos.process_of(stack, report.killed).pid != old_pid  # restarted by the supervisor
    finally:
        await nc.close()


def test_killing_the_feedback_leader_loses_no_event_and_fails_no_search(tmp_path: Path):
    stack = Stack(tmp_path / "data", replicas=1, extra=("--cluster", str(NODES)))
    try:
        stack.wait_ready()
        done = codesift("index", str(chaos.FIXTURE_REPO), "--name", "sample", data_dir=stack.data_dir)
        assert done.returncode == 0, done.stdout + done.stderr
        report = Failover()
        asyncio.run(survey(stack, report))
        load = chaos.Load(stack)
        load.start()
        time.sleep(BEFORE_S)
        asyncio.run(kill_feedback_leader(stack, report))
        load.finish()

        stored = chaos.logged_events(stack.data_dir)

        def drained() -> bool:
            stored.clear()
            stored.update(chaos.logged_events(stack.data_dir))
            return load.accepted <= set(stored)

        chaos.wait_until(drained, limit=60, every=0.5)
        s, f = load.searches, load.feedback
        lost = len(load.accepted - set(stored))
        doubled = sum(1 for n in stored.values() if n > 1)
        lines = [
            f"replicas (configured, peers): {report.replicas}",
            f"killed {report.killed} (leader of FEEDBACK); new leader {report.new_leader} after "
            f"{report.to_new_leader_s} s; rejoined as a current replica after {report.rejoined_s} s; "
            f"stream info unanswered {report.polls_failed} times meanwhile",
            f"feedback: sent {len(load.sent_ids)}, accepted {len(load.accepted)}, stored "
            f"{len(load.accepted & set(stored))}, lost {lost}, doubled {doubled}; accepted after a client "
            f"retry {f.ok_after_retry}, failed {f.failed}; failed attempts {dict(f.failed_attempts)}",
            f"searches: sent {s.sent}, first try {s.ok_first}, after a client retry {s.ok_after_retry}, "
            f"failed within the {chaos.WINDOW_S:.0f} s window {s.failed}; failed attempts "
            f"{dict(s.failed_attempts)}",
        ]
        print("\n".join(lines))
        where = "\n".join(lines) + "\n" + stack.output()[-5000:]

        assert report.replicas == dict.fromkeys(STREAM_NAMES, (NODES, NODES)), where
        assert report.new_leader not in (None, report.killed), where
        assert report.rejoined_s is not None, where
        assert len(load.accepted) > 40 and f.failed == 0, where
        assert lost == 0 and doubled == 0, where
        assert s.sent > 40 and s.failed == 0, where
        assert f"{report.killed} exited with code -9" in stack.output(), where
    finally:
        stack.stop()
