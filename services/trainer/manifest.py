"""The model artifact: `manifest.json` (what was trained, how, sha256 of every file) and its publication.

An artifact is built in a staging directory `models/.tmp-*` (which the trainer removes after a
crash) and renamed to `models/cross-encoder-codesift-YYYYMMDD-HHMMSS/` only once it is complete
and verified, so nothing half-written is ever visible under a version name.

Hashing and verification live in `shared.artifacts`: search replicas and the evaluator refuse an
artifact whose files do not match their recorded sha256. The fp32 `model.onnx` is listed with the
rest but marked "local_only": the object store carries only what is served.
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from shared.artifacts import (
    LOCAL_ONLY,
    MANIFEST,
    VERSION_PREFIX,
    ArtifactError,
    file_hashes,
    verify_manifest,
)

if TYPE_CHECKING:
    from services.trainer.export import ExportResult
    from services.trainer.training import TrainResult

STAGING_PREFIX = ".tmp-"  # what jobs.recover removes after a crash
FORMAT = 1
TRAINING_FIGURES = (
    "steps", "planned_steps", "epochs_completed", "stop_reason", "train_seconds", "pairs_per_s",
    "pair_length_p90", "validation", "loss_curve",
)  # fmt: skip


ManifestError = ArtifactError  # an artifact is incomplete or does not match its manifest


def new_version(now: datetime.datetime | None = None) -> str:
    """cross-encoder-codesift-YYYYMMDD-HHMMSS, in UTC."""
    now = now or datetime.datetime.now(datetime.UTC)
    return VERSION_PREFIX + now.astimezone(datetime.UTC).strftime("%Y%m%d-%H%M%S")


def staging_dir(models_dir: Path) -> Path:
    """A new, empty directory under `models_dir` that no reader takes for an artifact."""
    models_dir.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=models_dir))
    path.chmod(0o755)  # mkdtemp makes it private; a published model is read by other services
    return path


def write_manifest(
    directory: Path,
    *,
    version: str,
    training: TrainResult,
    export: ExportResult,
    created: datetime.datetime | None = None,
    combiner: dict[str, Any] | None = None,
    combiner_skipped: str | None = None,
    feedback_events: int = 0,
) -> dict[str, Any]:
    """Hash the files in `directory` and write its manifest.json; returns the manifest.

    combiner: the "combiner" section when the artifact holds one (services/trainer/combiner);
    combiner_skipped: why it holds none (recorded as "combiner_skipped");
    feedback_events: the feedback events the log mining behind its triplets read.
    """
    created = created or datetime.datetime.now(datetime.UTC)
    run = msgspec.to_builtins(training, enc_hook=str)
    manifest = {
        "format": FORMAT,
        "version": version,
        "kind": "cross-encoder",
        "created": created.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z"),
        "base_model": training.base_model,
        "max_length": export.max_length,
        "params": run["params"],
        "triplets": {
            "by_source": training.triplets_by_source,
            "train": training.train_triplets,
            "validation": training.validation_triplets,
        },
        "feedback_events": feedback_events,
        "training": {key: run[key] for key in TRAINING_FIGURES},
        "parity": {
            "pairs": export.pairs,
            "fp32": msgspec.to_builtins(export.fp32),
            "int8": msgspec.to_builtins(export.int8),
            "thresholds": msgspec.to_builtins(export.thresholds),
        },
        "files": file_hashes(directory),
    }
    manifest["local_only"] = [name for name in LOCAL_ONLY if name in manifest["files"]]  # not archived
    if combiner is not None:
        manifest["combiner"] = combiner
    if combiner_skipped is not None:
        manifest["combiner_skipped"] = combiner_skipped
    _write_json(directory / MANIFEST, manifest)
    return manifest


def publish(staging: Path, models_dir: Path, version: str) -> Path:
    """Verify the staged artifact and rename it to `models_dir/version` in one step."""
    verify_manifest(staging)
    target = models_dir / version
    if target.exists():  # rename(2) would silently replace an empty directory
        raise ManifestError(f"{target} already exists")
    os.rename(staging, target)
    return target


def _write_json(path: Path, value: object) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(value, indent=2) + "\n")
    os.replace(partial, path)
