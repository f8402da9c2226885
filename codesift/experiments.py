"""`codesift experiment start MODEL | stop | status`: online experiments over NATS (shared/experiments.py)."""

from __future__ import annotations

import time
from pathlib import Path

import msgspec
import nats.errors
from nats.js.errors import KeyNotFoundError

from codesift.client import Stack
from codesift.commands import cli_settings, fail
from shared.bus import StackNotRunning
from shared.experiments import ExperimentError, Tally, start_experiment, stop_experiment, tallies
from shared.schemas import ModelTrained
from shared.streams import Buckets, bootstrap, default_replicas


def describe(t: Tally) -> str:
    state = "running" if t.running else "stopped"
    verdict = f"winner: {t.winner}" if t.winner else "no winner yet (p >= 0.05)"
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(t.started_at))
    return (
        f"{t.experiment_id}  {t.version}  {state} since {when}\n"
        f"    {t.wins} wins, {t.losses} losses, {t.ties} ties for the candidate; "
        f"sign test p = {t.p_value:.3g}; {verdict}"
    )


async def experiment(action: str, model: str | None, data_dir: Path | None) -> int:
    try:
        async with Stack(cli_settings(data_dir)) as stack:
            js = await bootstrap(stack.nc, default_replicas(stack.settings))
            if action == "start":
                version = Path(model or "").name  # a version, or a model directory named after it
                kv = await js.key_value(Buckets.REGISTRY)
                try:
                    entry = await kv.get(f"trained.{version}")
                except KeyNotFoundError:
                    return fail(f"model: {version!r} is not a registered model (see `codesift info`)")
                trained = msgspec.json.decode(entry.value or b"", type=ModelTrained)
                started = await start_experiment(js, trained.version, trained.sha256)
                print(f"experiment {started.experiment_id}: {started.version} is interleaved with production")
                return 0
            if action == "stop":
                stopped = await stop_experiment(js)
                print(f"experiment {stopped.experiment_id} on {stopped.version} stopped")
                return 0
            found = await tallies(js)
    except StackNotRunning as exc:
        return fail(str(exc))
    except ExperimentError as exc:
        return fail(str(exc))
    except (nats.errors.Error, TimeoutError) as exc:
        return fail(f"experiment {action}: the bus did not answer ({exc or type(exc).__name__})")
    if not found:
        print("no experiment yet: `codesift experiment start MODEL`")
    for t in found:
        print(describe(t))
    return 0
