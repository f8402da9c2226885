"""Chaos on a real `codesift up` stack for 60 s: every process SIGKILLed in turn under steady load.

    PYTHONPATH=$PWD .venv/bin/python -m bench.chaos [--seconds 60] [--replicas 2]

Searches (5/s over HTTP) and feedback events (5/s, each with its own event id) run while a search
replica (its cached model damaged first), the telemetry, evaluator, promoter and indexer services,
the gateway, nats-server and the trainer (mid-job) are killed one after another; each is restarted
by the supervisor. Prints events sent / accepted / stored / lost / duplicated, searches sent /
failed, and the recovery time of each fault. The checks are those of tests/integration/test_chaos.py.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from shared.artifacts import VERSION_PREFIX
from tests.integration import chaos
from tests.integration.stack import Stack
from tests.model_fixtures import train_tiny_model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="load lasts at least this long")
    parser.add_argument("--replicas", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="codesift-chaos-") as tmp:
        root = Path(tmp)
        print("training the tiny production model...", flush=True)
        model = train_tiny_model(root / "models")
        stack = Stack(root / "data", replicas=args.replicas, env=chaos.NO_AUTO_PROMOTION)
        try:
            stack.wait_ready()
            version = VERSION_PREFIX + time.strftime("%Y%m%d-%H%M%S")
            served = chaos.prepare(stack, model, version)
            print(f"stack ready: index {served.index_version}, model {version}; chaos begins", flush=True)
            began = time.monotonic()
            report = chaos.run(
                stack,
                served,
                chaos.ALL_FAULTS,
                min_duration=args.seconds,
                say=lambda s: print(f"  +{time.monotonic() - began:5.1f} s  {s}", flush=True),
            )
        finally:
            code = stack.stop()
        print("\n".join(report.lines()))
        ok = (
            report.events_lost == 0
            and report.events_duplicated == 0
            and report.searches.failed == 0
            and all(f.recovery_s is not None for f in report.faults)
            and report.killed_job.get("state") == "failed"
            and report.new_job.get("state") == "succeeded"
            and report.production_before == report.production_after
            and report.cache_repaired
        )
        print("all checks passed" if ok else "SOME CHECKS FAILED", f"(stack stopped with {code})")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
