"""An evaluation's outcome: the `codesift.model.evaluated` event, KV `evals` and `evals/latest.json`.

latest.json is the DESIGN.md eval result (`timestamp`, `model_path`, `metrics`, `total_questions`)
plus `version`, `baselines`, `intervals`, `per_question` (each question's first correct rank per
ranker; `first_correct_rank` is the candidate's), `split`, `rankers` (how each compared ranking
orders: fusion order, fused-rank blend, learned combiner with or without the cross-encoder) and,
when the eval side of the golden split was empty, a `note` saying that every question was scored
instead.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

import msgspec
from nats.js import JetStreamContext

from shared import subjects
from shared.schemas import ModelEvaluated, encoder
from shared.streams import Buckets

LATEST_KEY = "latest"
LATEST_FILE = "latest.json"


def latest_document(
    event: ModelEvaluated,
    model_path: Path,
    per_question: list[dict[str, object]],
    note: str = "",
    rankers: dict[str, str] | None = None,
) -> dict[str, object]:
    moment = datetime.datetime.fromtimestamp(event.timestamp, datetime.UTC)
    document: dict[str, object] = {
        "timestamp": moment.isoformat().replace("+00:00", "Z"),
        "model_path": str(model_path),
        "metrics": msgspec.to_builtins(event.metrics),
        "total_questions": event.total_questions,
        "version": event.version,
        "job_id": event.job_id,
        "split": event.split,
        "baselines": msgspec.to_builtins(event.baselines),
        "intervals": msgspec.to_builtins(event.intervals),
        "production_version": event.production_version,
        "triplets": event.triplets,
        "per_question": per_question,
    }
    if rankers:
        document["rankers"] = rankers
    if note:
        document["note"] = note
    return document


def write_latest(evals_dir: Path, document: dict[str, object]) -> Path:
    """Replace evals/latest.json in one step: a reader sees the old file or the new one, whole."""
    evals_dir.mkdir(parents=True, exist_ok=True)
    path = evals_dir / LATEST_FILE
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, indent=2) + "\n")
    os.replace(partial, path)
    return path


async def announce(js: JetStreamContext, event: ModelEvaluated) -> None:
    """Store the evaluation in KV `evals` (its version and "latest"), then publish it (stream EVENTS).

    Stored first, so a promoter woken by the event finds it in KV. The job id is the message id:
    an evaluation redelivered after a crash is recorded once in the stream.
    """
    data = encoder.encode(event)
    kv = await js.key_value(Buckets.EVALS)
    await kv.put(event.version, data)
    await kv.put(LATEST_KEY, data)
    await js.publish(subjects.MODEL_EVALUATED, data, headers={"Nats-Msg-Id": f"evaluated-{event.job_id}"})
