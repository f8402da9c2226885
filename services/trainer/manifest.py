"""The model artifact: `manifest.json` (what was trained, how, sha256 of every file) and its publication.

An artifact is built in a staging directory `models/.tmp-*` (which the trainer removes after a
crash) and renamed to `models/cross-encoder-codesift-YYYYMMDD-HHMMSS/` only once it is complete
and verified, so nothing half-written is ever visible under a version name.

`verify_manifest` needs only hashlib and json: search replicas and the evaluator refuse an
artifact whose files do not match their recorded sha256.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from services.trainer.export import ExportResult
    from services.trainer.training import TrainResult

MANIFEST = "manifest.json"
VERSION_PREFIX = "cross-encoder-codesift-"
STAGING_PREFIX = ".tmp-"  # what jobs.recover removes after a crash
FORMAT = 1
TRAINING_FIGURES = (
    "steps", "planned_steps", "epochs_completed", "stop_reason", "train_seconds", "pairs_per_s",
    "pair_length_p90", "validation", "loss_curve",
)  # fmt: skip


class ManifestError(RuntimeError):
    """An artifact is incomplete or does not match its manifest."""


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


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_hashes(directory: Path) -> dict[str, str]:
    """sha256 of every file under `directory` but the manifest, by relative POSIX path."""
    return {
        path.relative_to(directory).as_posix(): sha256_file(path)
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.relative_to(directory).as_posix() != MANIFEST
    }


def write_manifest(
    directory: Path,
    *,
    version: str,
    training: TrainResult,
    export: ExportResult,
    created: datetime.datetime | None = None,
) -> dict[str, Any]:
    """Hash the files in `directory` and write its manifest.json; returns the manifest."""
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
        "training": {key: run[key] for key in TRAINING_FIGURES},
        "parity": {
            "pairs": export.pairs,
            "fp32": msgspec.to_builtins(export.fp32),
            "int8": msgspec.to_builtins(export.int8),
            "thresholds": msgspec.to_builtins(export.thresholds),
        },
        "files": file_hashes(directory),
    }
    _write_json(directory / MANIFEST, manifest)
    return manifest


def read_manifest(directory: Path) -> dict[str, Any]:
    path = Path(directory) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestError(f"{directory}: no {MANIFEST}") from None
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}: not JSON ({exc})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise ManifestError(f"{path}: no file list")
    return manifest


def verify_manifest(directory: Path) -> dict[str, Any]:
    """Recompute every sha256; raise ManifestError on a missing, changed or unlisted file."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    recorded: dict[str, str] = manifest["files"]
    actual = file_hashes(directory)
    problems = [f"missing {name}" for name in sorted(recorded.keys() - actual.keys())]
    problems += [f"unlisted {name}" for name in sorted(actual.keys() - recorded.keys())]
    changed = [name for name in sorted(recorded.keys() & actual.keys()) if recorded[name] != actual[name]]
    problems += [f"sha256 mismatch {name}" for name in changed]
    if not recorded:
        problems.append("no files listed")
    if problems:
        raise ManifestError(f"{directory.name}: " + ", ".join(problems))
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
