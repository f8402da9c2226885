"""A 3-node NATS cluster losing the node that leads the feedback stream, under steady load.

    PYTHONPATH=$PWD .venv/bin/python -m bench.nats_cluster [--nodes 3] [--before 5] [--after 20]

Starts `codesift up --cluster N` (one search replica), indexes the fixture repository, runs
searches (5/s) and feedback events (5/s) through the gateway, SIGKILLs the FEEDBACK stream's
leader and keeps the load for --after seconds. Prints every stream's replicas, the time until the
supervisor restarted the node, until another node led the stream and until the killed node was a
current replica again, events sent / accepted / stored / lost / doubled and searches sent / failed.
The checks are those of tests/integration/test_nats_cluster.py.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tests.integration import cluster_failover
from tests.integration.stack import Stack


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=3, choices=[3, 5])
    parser.add_argument("--before", type=float, default=5.0, help="seconds of load before the kill")
    parser.add_argument("--after", type=float, default=20.0, help="seconds of load after the kill")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="codesift-cluster-") as tmp:
        stack = Stack(Path(tmp) / "data", replicas=1, extra=("--cluster", str(args.nodes)))
        try:
            stack.wait_ready()
            report = cluster_failover.run(stack, before=args.before, after=args.after)
        finally:
            code = stack.stop()
        print("\n".join(report.lines()))
        r, load = report.failover, report.load
        ok = (
            set(r.replicas.values()) == {(args.nodes, args.nodes)}
            and r.new_leader not in (None, r.killed)
            and r.rejoined_s is not None
            and report.lost == 0
            and report.doubled == 0
            and load.searches.failed == 0
            and load.feedback.failed == 0
        )
        print("all checks passed" if ok else "SOME CHECKS FAILED", f"(stack stopped with {code})")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
