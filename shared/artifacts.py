"""Model artifacts: the manifest's file hashes, verification, and transport through the object store.

A model directory (`cross-encoder-codesift-YYYYMMDD-HHMMSS/`) holds `model.onnx`, `model.int8.onnx`,
tokenizer files and `manifest.json`, which records the sha256 of every other file. The trainer
writes it; the object store `models` carries it as one tar archive; search replicas and the evaluator
download it, check the archive's sha256, unpack it atomically and verify every file before use.

The archive carries only what is served. Files the manifest names in "local_only" (the fp32
`model.onnx`: replicas and the evaluator run `model.int8.onnx`) stay on the trainer's disk, which
cuts a MiniLM artifact from 151 MB to 60 MB; every other file travels, whatever the trainer adds.
A local-only file may be absent from a directory, but when present it must match its sha256 too.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from nats.js import JetStreamContext

from shared.archives import ArchiveError, ArchiveLimits, extract, read_object
from shared.paths import PathError, child, inside, text_problem
from shared.streams import Buckets

MANIFEST = "manifest.json"
VERSION_PREFIX = "cross-encoder-codesift-"
LOCAL_ONLY = ("model.onnx",)  # what the trainer marks "local_only": never read where a model is served


class ArtifactError(RuntimeError):
    """An artifact is missing, incomplete, or does not match its checksums."""


class ModelPathError(PathError):
    """A model named by a request does not resolve to a model directory inside the models directory.

    `field` is the request field to blame ("model_path"); the gateway answers 400 with it.
    """

    field = "model_path"

    def __init__(self, reason: str):
        super().__init__(self.field, reason)


def resolve_model_path(models_dir: Path, value: str) -> Path:
    """The model directory that `value` names: a version, or a path inside `models_dir`.

    A version ("cross-encoder-codesift-...") or a relative path is read against `models_dir`; an
    absolute path is taken as it is. Symbolic links are followed (`shared.paths.inside`), and the
    result must be a directory directly inside `models_dir` (not a hidden staging one), else
    ModelPathError: `../x`, an absolute path elsewhere, a NUL byte and a link leading out are all
    refused. The directory need not exist here (the model may be only in the object store).
    """
    root = Path(models_dir).resolve()
    outside = ModelPathError(f"{value!r} is not a model directory inside the models directory {root}")
    if (problem := text_problem(value)) is not None:
        raise ModelPathError(f"{value!r} {problem}: no model directory inside the models directory {root}")
    try:
        path = inside(root, value, ModelPathError.field)
    except PathError:
        raise outside from None
    if path.parent != root or path.name.startswith("."):
        raise outside
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


def read_manifest(directory: Path) -> dict[str, Any]:
    path = Path(directory) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtifactError(f"{Path(directory).name}: no {MANIFEST}") from None
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path}: not JSON ({exc})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise ArtifactError(f"{path}: no file list")
    return manifest


def local_only(manifest: dict[str, Any]) -> set[str]:
    """The files of `manifest` that are not archived (may be absent): its "local_only" list."""
    names = manifest.get("local_only", [])
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise ArtifactError(f"{MANIFEST}: local_only must be a list of file names, got {names!r}")
    unlisted = sorted(set(names) - manifest["files"].keys())
    if unlisted:
        raise ArtifactError(f"{MANIFEST}: local_only names files it does not list: {', '.join(unlisted)}")
    return set(names)


def verify_manifest(directory: Path) -> dict[str, Any]:
    """Recompute every sha256; raise ArtifactError on a missing, changed or unlisted file.

    A file the manifest marks local-only may be missing (an artifact unpacked from the object store).
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    recorded: dict[str, str] = manifest["files"]
    actual = file_hashes(directory)
    missing = recorded.keys() - actual.keys() - local_only(manifest)
    problems = [f"missing {name}" for name in sorted(missing)]
    problems += [f"unlisted {name}" for name in sorted(actual.keys() - recorded.keys())]
    changed = [name for name in sorted(recorded.keys() & actual.keys()) if recorded[name] != actual[name]]
    problems += [f"sha256 mismatch {name}" for name in changed]
    if not recorded:
        problems.append("no files listed")
    if problems:
        raise ArtifactError(f"{directory.name}: " + ", ".join(problems))
    return manifest


def archive(directory: Path) -> bytes:
    """The served artifact as one tar archive: every file but those its manifest marks local-only."""
    skipped = local_only(read_manifest(directory))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:  # ONNX weights barely compress: no gzip
        for path in sorted(directory.rglob("*")):
            name = path.relative_to(directory).as_posix()
            if path.is_file() and name not in skipped:
                tar.add(path, arcname=name)
    return buffer.getvalue()


def unpack(data: bytes, sha256: str, target: Path, limits: ArchiveLimits | None = None) -> Path:
    """Check the archive's sha256, unpack it beside `target`, verify the manifest, rename into place.

    Every member is checked first (`shared.archives`: no `..`, absolute name, link or device, and
    within the size and member limits); a refused archive raises ArtifactError and leaves `target`,
    and whatever was there, as it was.
    """
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ArtifactError(f"{target.name}: the archive does not match its sha256; refused")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        try:
            extract(data, staging, target.name, limits)
        except ArchiveError as exc:
            raise ArtifactError(str(exc)) from None
        except tarfile.TarError as exc:
            raise ArtifactError(f"{target.name}: not a tar archive ({exc}); refused") from None
        verify_manifest(staging)
        if target.exists():
            shutil.rmtree(target)
        os.rename(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target


async def put_model(js: JetStreamContext, directory: Path) -> str:
    """Upload a verified model directory to the object store `models`; returns the archive's sha256."""
    await asyncio.to_thread(verify_manifest, directory)
    data = await asyncio.to_thread(archive, directory)
    store = await js.object_store(Buckets.MODELS)
    await store.put(directory.name, data)
    return hashlib.sha256(data).hexdigest()


async def fetch_model(js: JetStreamContext, version: str, sha256: str, cache_dir: Path) -> Path:
    """The verified model directory of `version`: from `cache_dir` when it is there, else downloaded."""
    try:
        target = child(cache_dir, version, "version")  # a version from the bus: one plain name
    except PathError as exc:
        raise ArtifactError(f"{version!r}: {exc}; refused") from None
    if target.exists():
        try:
            verify_manifest(target)
            return target
        except ArtifactError:
            shutil.rmtree(target, ignore_errors=True)
    store = await js.object_store(Buckets.MODELS)
    try:
        data = await read_object(store, version)  # refused unread past the archive limits
    except ArchiveError as exc:
        raise ArtifactError(str(exc)) from None
    return unpack(data, sha256, target)
