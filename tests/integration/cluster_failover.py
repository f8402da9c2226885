"""A NATS cluster's feedback-stream leader SIGKILLed under steady load, and what it cost.

Used by tests/integration/test_nats_cluster.py and bench/nats_cluster.py (the README's figures).
On a `codesift up --cluster N` stack: every stream's replicas are surveyed, chaos.py's load runs
(5 searches and 5 feedback events a second through the gateway, each request retried by the client
within chaos.WINDOW_S, an event with the same id), the node leading FEEDBACK is killed, and the
stream is polled until another node leads it and the killed one (restarted by the supervisor) is a
current replica again. Then every accepted event must be in the telemetry log exactly once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from dataclasses import dataclass, field

import nats.errors
from nats.aio.client import Client

from shared.bus import log_connection_error
from shared.streams import KV_BUCKETS, OBJECT_STORES, STREAMS
from tests.integration import chaos
from tests.integration.stack import Stack, codesift

STREAM_NAMES = (
    [s.name for s in STREAMS] + [f"KV_{b.bucket}" for b in KV_BUCKETS] + [f"OBJ_{b}" for b in OBJECT_STORES]
)


@dataclass
class Failover:
    killed: str = ""
    new_leader: str | None = None
    to_new_leader_s: float | None = None  # from the SIGKILL until stream info names another leader
    rejoined_s: float | None = None  # from the SIGKILL until the killed node is a current replica again
    restarted_s: float | None = None  # from the SIGKILL until the supervisor's new process runs
    polls_failed: int = 0  # stream info requests unanswered meanwhile (the election)
    replicas: dict[str, tuple[int, int]] = field(default_factory=dict)  # stream -> (config, peers seen)
    leaders: dict[str, str] = field(default_factory=dict)  # stream -> its leader before the kill


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
            report.leaders[name] = (info.cluster.leader if info.cluster else None) or ""
    finally:
        await nc.close()


async def kill_feedback_leader(stack: Stack, report: Failover, after: float) -> None:
    """SIGKILL the node leading FEEDBACK; poll until a new leader and the node back; `after` s in all."""
    nc = await stack.nats_connect(
        reconnect_time_wait=0.25, max_reconnect_attempts=-1, error_cb=log_connection_error
    )
    try:
        cluster = await feedback_cluster(nc)
        assert cluster is not None and cluster.leader, cluster
        report.killed = cluster.leader
        old_pid = chaos.process_of(stack, report.killed).pid
        os.kill(old_pid, signal.SIGKILL)
        killed_at = time.monotonic()
        while time.monotonic() - killed_at < 60 and report.rejoined_s is None:
            await asyncio.sleep(0.1)
            if report.restarted_s is None and restarted(stack, report.killed, old_pid):
                report.restarted_s = round(time.monotonic() - killed_at, 2)
            try:
                cluster = await feedback_cluster(nc)
            except (nats.errors.Error, TimeoutError, OSError):
                report.polls_failed += 1
                continue
            if cluster is None or not cluster.leader:
                continue
            # On a busy machine the election can outlast the restart (1.2 s), and the killed node,
            # back, may win it: a leader it is elected as after its restart counts too.
            elected = cluster.leader != report.killed or report.restarted_s is not None
            if report.new_leader is None and elected:
                report.new_leader = cluster.leader
                report.to_new_leader_s = round(time.monotonic() - killed_at, 2)
            peers = {p.name: p for p in cluster.replicas or []}
            back = peers.get(report.killed)
            if report.new_leader == report.killed or (
                report.new_leader and back is not None and back.current and not back.offline
            ):
                report.rejoined_s = round(time.monotonic() - killed_at, 2)
        wait = after - (time.monotonic() - killed_at)
        await asyncio.sleep(max(0.0, wait))
        assert chaos.process_of(stack, report.killed).pid != old_pid  # restarted by the supervisor
    finally:
        await nc.close()


def restarted(stack: Stack, node: str, old_pid: int) -> bool:
    try:
        return chaos.process_of(stack, node).pid != old_pid
    except LookupError:
        return False


@dataclass
class Report:
    failover: Failover
    load: chaos.Load
    stored: Counter
    output: list[str]  # the stack's output lines

    @property
    def lost(self) -> int:
        return len(self.load.accepted - set(self.stored))

    @property
    def doubled(self) -> int:
        return sum(1 for n in self.stored.values() if n > 1)

    @property
    def impressions_lost(self) -> int:
        """Searches answered whose impression was not stored (the replica logs it; see
        services/search/handlers.py record_impression): feedback on them is logged unjoined."""
        return sum(1 for line in self.output if "not recorded" in line and "impression" in line)

    def lines(self) -> list[str]:
        r, s, f = self.failover, self.load.searches, self.load.feedback
        led = sorted(name for name, leader in r.leaders.items() if leader == r.killed)
        return [
            f"replicas (configured, peers): {r.replicas}",
            f"{r.killed} led {len(led)} of {len(r.leaders)} before the kill: {', '.join(led)}",
            f"killed {r.killed} (leader of FEEDBACK): restarted by the supervisor after {r.restarted_s} s; "
            f"new leader {r.new_leader} after {r.to_new_leader_s} s; {r.killed} a current replica again "
            f"after {r.rejoined_s} s; stream info unanswered {r.polls_failed} times meanwhile",
            f"feedback: sent {len(self.load.sent_ids)}, accepted {len(self.load.accepted)}, stored "
            f"{len(self.load.accepted & set(self.stored))}, lost {self.lost}, doubled {self.doubled}; "
            f"accepted after a client retry {f.ok_after_retry}, failed {f.failed}; failed attempts "
            f"{dict(f.failed_attempts) or 'none'}",
            f"searches: sent {s.sent}, first try {s.ok_first}, after a client retry {s.ok_after_retry}, "
            f"failed within the {chaos.WINDOW_S:.0f} s window {s.failed}; failed attempts "
            f"{dict(s.failed_attempts) or 'none'}; impressions not recorded {self.impressions_lost}",
        ]


def run(stack: Stack, before: float = 4.0, after: float = 10.0) -> Report:
    """Index the fixture, survey the replicas, load for `before` s, kill the leader, load `after` s."""
    done = codesift("index", str(chaos.FIXTURE_REPO), "--name", "sample", data_dir=stack.data_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    failover = Failover()
    asyncio.run(survey(stack, failover))
    load = chaos.Load(stack)
    load.start()
    time.sleep(before)
    try:
        asyncio.run(kill_feedback_leader(stack, failover, after))
    finally:
        load.finish()
    stored: Counter = Counter()

    def drained() -> bool:
        stored.clear()
        stored.update(chaos.logged_events(stack.data_dir))
        return load.accepted <= set(stored)

    chaos.wait_until(drained, limit=60, every=0.5)
    return Report(failover, load, stored, list(stack.lines))
