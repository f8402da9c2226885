"""CLI commands of the learning loop: mine, train, logs — each a job the trainer runs."""

from __future__ import annotations

import time
from pathlib import Path

import msgspec
import nats

from codesift.client import Stack
from codesift.commands import cli_settings, fail
from codesift.progress import ProgressLine
from shared import subjects
from shared.bus import StackNotRunning
from shared.jobs import new_job_id, running_trainer_job
from shared.schemas import MineCommand, TrainCommand, command_kind
from shared.streams import Buckets


async def submit_job(
    subject: str, command: MineCommand | TrainCommand, wait: bool, data_dir: Path | None
) -> int:
    kind = command_kind(command)
    try:
        async with Stack(cli_settings(data_dir)) as stack:
            current = await running_trainer_job(stack.nc.jetstream())
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
    labels = final.result.get("labels")
    if isinstance(labels, dict) and labels:
        print(labels_line(labels))
    return 0


def labels_line(labels: dict) -> str:
    """A mine job's label counts in words: kept, re-attached by each rule, lost."""
    moved = ", ".join(
        f"{rule.replace('_', ' ')} {labels.get(rule, 0)}" for rule in ("content_hash", "symbol", "overlap")
    )
    return f"labels: {labels.get('intact', 0)} intact; re-attached by {moved}; {labels.get('lost', 0)} lost"


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


async def evaluate_model(
    model: str, golden: Path | None, split: str, as_json: bool, data_dir: Path | None
) -> int:
    """`codesift eval --model`: the evaluator scores it against no reranker and production."""
    from shared.schemas import EvaluateCommand

    try:
        command = build(
            EvaluateCommand, model=model, golden=str(golden.resolve()) if golden else None, split=split
        )
    except msgspec.ValidationError as exc:
        return fail(f"eval: {exc}")
    settings = cli_settings(data_dir)
    try:
        async with Stack(settings) as stack:
            await stack.submit(subjects.CMD_EVALUATE, command)
            bar = ProgressLine("evaluate")
            final = await stack.follow(command.job_id, bar.update if not as_json else (lambda e: None))
            bar.close()
    except StackNotRunning as exc:
        return fail(str(exc))
    if final.state != "succeeded":
        return fail(f"evaluation failed: {final.message}")
    latest = settings.data_dir / "evals" / "latest.json"
    result = final.result or (msgspec.json.decode(latest.read_bytes()) if latest.exists() else {})
    if as_json:
        print(msgspec.json.encode(result).decode())
        return 0
    print(final.message)
    for name, values in _metric_rows(result):
        print(f"  {name:<12} " + "  ".join(f"{k} {v:.3f}" for k, v in values.items()))
    for name, interval in (result.get("intervals") or {}).items():
        low, high = interval["low"], interval["high"]
        print(f"  MRR vs {name}: {interval['mean']:+.3f} (95% CI {low:+.3f} .. {high:+.3f})")
    return 0


def _metric_rows(result: dict) -> list[tuple[str, dict]]:
    rows = [("candidate", result.get("metrics") or {})]
    rows += [(name, metrics) for name, metrics in (result.get("baselines") or {}).items()]
    return [(n, {k: v for k, v in m.items() if isinstance(v, int | float)}) for n, m in rows if m]


async def promote(model: str, min_triplets: int | None, force: bool, data_dir: Path | None) -> int:
    from shared.schemas import PromoteCommand

    try:
        command = build(PromoteCommand, model=model, force=force, min_triplets=min_triplets)
    except msgspec.ValidationError as exc:
        return fail(f"promote: {exc}")
    return await _follow_simple(subjects.CMD_PROMOTE, command, data_dir)


async def rollback(data_dir: Path | None) -> int:
    from shared.schemas import RollbackCommand

    return await _follow_simple(subjects.CMD_ROLLBACK, build(RollbackCommand), data_dir)


async def _follow_simple(subject: str, command, data_dir: Path | None) -> int:
    kind = command_kind(command)
    try:
        async with Stack(cli_settings(data_dir)) as stack:
            await stack.submit(subject, command)
            final = await stack.follow(command.job_id, lambda e: None, timeout=120)
    except StackNotRunning as exc:
        return fail(str(exc))
    except TimeoutError:
        return fail(f"{kind}: no answer within 120 s — is the promoter running? (`codesift status`)")
    if final.state != "succeeded":
        return fail(f"{kind} refused: {final.message}")
    print(final.message)
    return 0


async def info(data_dir: Path | None) -> int:
    """Production model, how it ranks, its evaluation, and what each replica serves."""
    from codesift.ranker import ranker_lines
    from shared.registry import read_model_pointer
    from shared.schemas import ModelTrained

    try:
        async with Stack(cli_settings(data_dir)) as stack:
            js = stack.nc.jetstream()
            kv = await js.key_value(Buckets.REGISTRY)
            pointer = await read_model_pointer(js)
            evaluation, manifest = None, None
            if pointer is not None:
                try:
                    trained = (await kv.get(f"trained.{pointer.version}")).value
                    manifest = msgspec.json.decode(trained, type=ModelTrained).manifest if trained else None
                except nats.js.errors.KeyNotFoundError:
                    manifest = None  # registered nowhere (a model copied by hand)
                evals = await js.key_value(Buckets.EVALS)
                try:
                    evaluation = msgspec.json.decode((await evals.get(pointer.version)).value)
                except nats.js.errors.KeyNotFoundError:
                    evaluation = None
            replicas = await stack.replicas()
    except StackNotRunning as exc:
        return fail(str(exc))
    print("backend: onnxruntime")
    if pointer is None:
        print("production: none (fusion order) — train and promote a model: `codesift train --wait`")
    else:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(pointer.promoted_at))
        print(f"production: {pointer.version} (promoted {when}; sha256 {pointer.sha256[:12]}…)")
        if pointer.previous:
            print(f"previous: {', '.join(pointer.previous[:5])}")
        print("\n".join(ranker_lines(manifest)))
        if evaluation:
            m = evaluation.get("metrics", {})
            questions = evaluation.get("total_questions")
            mrr, hit5 = m.get("mrr", 0.0), m.get("hit_at_5", 0.0)
            print(f"eval: MRR@10 {mrr:.3f}  Hit@5 {hit5:.3f}  ({questions} questions)")
    for r in sorted(replicas, key=lambda r: r.replica_id):
        loaded = getattr(r, "reranker_version", None)
        since = getattr(r, "reranker_loaded_at", None)
        error = getattr(r, "reranker_error", None)
        since_text = time.strftime("%H:%M:%S", time.localtime(since)) if since else "-"
        print(
            f"  {r.replica_id}: serves {r.reranker if loaded else 'none (fusion order)'} since {since_text}"
            + (f"  ERROR {error}" if error else "")
        )
    return 0
