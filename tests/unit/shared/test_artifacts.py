"""The archive carries only what is served; verification still refuses any file that does not match."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from shared.artifacts import MANIFEST, ArtifactError, archive, file_hashes, unpack, verify_manifest

VERSION = "cross-encoder-codesift-20260101-120000"


def make_artifact(root: Path, local_only: list[str] | None = None) -> Path:
    """A model directory as the trainer writes it, with a file added later (a combiner)."""
    directory = root / VERSION
    directory.mkdir(parents=True)
    (directory / "model.onnx").write_bytes(b"fp32 graph")
    (directory / "model.int8.onnx").write_bytes(b"int8 graph")
    (directory / "tokenizer.json").write_text("{}")
    (directory / "combiner.onnx").write_bytes(b"feature ranker")
    (directory / "combiner.json").write_text('{"features": []}')
    manifest: dict = {"version": VERSION, "files": file_hashes(directory)}
    if local_only is not None:
        manifest["local_only"] = local_only
    (directory / MANIFEST).write_text(json.dumps(manifest))
    return directory


def members(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return sorted(tar.getnames())


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    return make_artifact(tmp_path / "models", local_only=["model.onnx"])


def test_the_archive_carries_every_file_but_the_local_only_ones(artifact: Path, tmp_path: Path):
    data = archive(artifact)
    assert members(data) == [
        "combiner.json",
        "combiner.onnx",
        MANIFEST,
        "model.int8.onnx",
        "tokenizer.json",
    ]
    unpacked = unpack(data, hashlib.sha256(data).hexdigest(), tmp_path / "cache" / VERSION)
    assert not (unpacked / "model.onnx").exists()
    manifest = verify_manifest(unpacked)  # the manifest still lists model.onnx: absent is allowed
    assert "model.onnx" in manifest["files"]
    assert (unpacked / "combiner.onnx").read_bytes() == b"feature ranker"


def test_without_local_only_files_every_file_travels_and_must_be_there(tmp_path: Path):
    artifact = make_artifact(tmp_path / "models")  # an artifact written before "local_only" existed
    assert "model.onnx" in members(archive(artifact))
    (artifact / "model.onnx").unlink()
    with pytest.raises(ArtifactError, match=r"missing model\.onnx"):
        verify_manifest(artifact)


@pytest.mark.parametrize(
    ("tamper", "complaint"),
    [
        (lambda d: (d / "model.onnx").write_bytes(b"patched"), "sha256 mismatch model.onnx"),
        (lambda d: (d / "model.int8.onnx").unlink(), "missing model.int8.onnx"),
        (lambda d: (d / "combiner.json").unlink(), "missing combiner.json"),
        (lambda d: (d / "payload.py").write_text("import os"), "unlisted payload.py"),
    ],
)
def test_a_local_only_file_may_be_absent_but_nothing_else_is_excused(artifact: Path, tamper, complaint):
    (artifact / "model.onnx").unlink()
    verify_manifest(artifact)
    (artifact / "model.onnx").write_bytes(b"fp32 graph")
    tamper(artifact)
    with pytest.raises(ArtifactError, match=complaint):
        verify_manifest(artifact)


@pytest.mark.parametrize(
    ("local_only", "complaint"),
    [
        (["weights.bin"], "local_only names files it does not list: weights.bin"),
        ("model.onnx", "local_only must be a list of file names"),
    ],
)
def test_a_bad_local_only_list_is_refused(tmp_path: Path, local_only, complaint):
    artifact = make_artifact(tmp_path / "models", local_only=local_only)
    with pytest.raises(ArtifactError, match=complaint):
        verify_manifest(artifact)
    with pytest.raises(ArtifactError, match=complaint):
        archive(artifact)
