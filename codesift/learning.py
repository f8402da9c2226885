"""CLI commands of the learning loop: mine, train, logs — each a job the trainer runs."""

from __future__ import annotations

from pathlib import Path

import msgspec
import nats

from codesift.client import Stack
from codesift.commands import cli_settings, fail
from codesift.progress import ProgressLine
from shared import subjects
from shared.bus import StackNotRunning
from shared.jobs import new_job_id
from shared.schemas import MineCommand, TrainCommand, command_kind
from shared.streams import Buckets

LOCK_KEY = "trainer.current"  # the trainer's lock in KV `jobs` (services/trainer/jobs.py)


async def running_trainer_job(stack: Stack) -> str | None:
    js = stack.nc.jetstream()
    kv = await js.key_value(Buckets.JOBS)
    try:
        entry = await kv.get(LOCK_KEY)
    except nats.js.errors.KeyNotFoundError:
        return None
    return entry.value.decode() if entry.value else None


async def submit_job(
    subject: str, command: MineCommand | TrainCommand, wait: bool, data_dir: Path | None
) -> int:
    kind = command_kind(command)
    try:
        async with Stack(cli_settings(data_dir)) as stack:
            current = await running_trainer_job(stack)
            if current is not None:
                return fail(f"already running: {current} (follow it with `codesift status`)")
            await stack.submit(subject, command)
            if not wait:
                print(f"{kind} job {command.job_id} submitted; follow it with `codesift status`")
                return 0
            bar = ProgressLine(kind)
            final = await stack.follow(command.job_id, bar.update)
            bar.close()
    except StackNotRunning as exc:
        return fail(str(exc))
    if final.state != "succeeded":
        return fail(f"{kind} job {command.job_id} failed: {final.message}")
    details = ", ".join(f"{k}: {v}" for k, v in final.result.items() if not isinstance(v, dict | list))
    print(f"{kind} job {command.job_id} succeeded. {final.message}" + (f" ({details})" if details else ""))
    return 0


def build(kind: type, **fields: object) -> MineCommand | TrainCommand:
    """Validate the command here, so a bad option is named before anything is sent."""
    values = {k: v for k, v in fields.items() if v is not None}
    return msgspec.convert({"job_id": new_job_id(kind.__struct_config__.tag), **values}, kind)


async def mine(source: str, golden: Path | None, wait: bool, data_dir: Path | None) -> int:
    try:
        command = build(MineCommand, source=source, golden=str(golden.resolve()) if golden else None)
    except msgspec.ValidationError as exc:
        return fail(f"mine: {exc}")
    return await submit_job(subjects.CMD_MINE, command, wait, data_dir)


async def train(options: dict[str, object], wait: bool, data_dir: Path | None) -> int:
    try:
        command = build(TrainCommand, **options)
    except msgspec.ValidationError as exc:
        field = str(exc).split("`$.")[-1].rstrip("`") if "`$." in str(exc) else ""
        return fail(f"train --{field.replace('_', '-')}: {str(exc).split(' - at ')[0]}")
    return await submit_job(subjects.CMD_TRAIN, command, wait, data_dir)


async def logs(data_dir: Path | None) -> int:
    try:
        async with Stack(cli_settings(data_dir)) as stack:
            try:
                msg = await stack.nc.request(subjects.TRAINER_LOGS, b"{}", timeout=5)
            except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
                return fail("the trainer does not answer: is it running? (`codesift status`)")
    except StackNotRunning as exc:
        return fail(str(exc))
    answer = msgspec.json.decode(msg.data)
    print(f"job {answer.get('job_id') or '-'}")
    for line in answer.get("lines", []):
        print(line)
    return 0
