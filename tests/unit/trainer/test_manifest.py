"""manifest.json: what it records, sha256 verification, and publication by one rename."""

import datetime
import hashlib
import json
from pathlib import Path

import pytest

from services.trainer.export import ExportResult, Parity, ParityThresholds
from services.trainer.manifest import (
    MANIFEST,
    ManifestError,
    new_version,
    publish,
    staging_dir,
    verify_manifest,
    write_manifest,
)
from services.trainer.params import TrainParams
from services.trainer.training import LossPoint, TrainResult, Validation

VERSION = "cross-encoder-codesift-20260102-030405"
TRAINING = TrainResult(
    hf_dir=Path("/tmp/hf"),
    base_model="/models/minilm",
    params=TrainParams(max_length=96),
    pair_length_p90=90,
    train_triplets=40,
    validation_triplets=5,
    triplets_by_source={"logs": 30, "bootstrap": 15},
    steps=3,
    planned_steps=3,
    epochs_completed=1.0,
    stop_reason="completed",
    train_seconds=12.5,
    pairs_per_s=4.0,
    loss_curve=[LossPoint(1, 0.9), LossPoint(2, 0.7), LossPoint(3, 0.5)],
    validation=[Validation(0, 0.0, 0.41, 0.8), Validation(3, 1.0, 0.66, 0.6)],
    parity_pairs=[("q", "t")],
)
EXPORT = ExportResult(
    out_dir=Path("/tmp/out"),
    max_length=96,
    pairs=20,
    fp32=Parity(2e-7, 1e-7, 1e-5, 1.0),
    int8=Parity(0.02, 0.004, 0.05, 0.99),
    thresholds=ParityThresholds(),
    export_seconds=2.0,
    quantize_seconds=1.0,
    sizes={},
)


@pytest.fixture
def artifact(tmp_path) -> Path:
    staging = staging_dir(tmp_path / "models")
    (staging / "model.onnx").write_bytes(b"fp32 graph")
    (staging / "model.int8.onnx").write_bytes(b"int8 graph")
    (staging / "tokenizer.json").write_text("{}")
    (staging / "extra").mkdir()
    (staging / "extra" / "notes.txt").write_text("nested files are hashed too")
    created = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    write_manifest(staging, version=VERSION, training=TRAINING, export=EXPORT, created=created)
    return staging


def test_version_names_the_utc_time():
    cest = datetime.timezone(datetime.timedelta(hours=2))
    assert new_version(datetime.datetime(2026, 1, 2, 5, 4, 5, tzinfo=cest)) == VERSION


def test_staging_is_hidden_and_empty(tmp_path):
    staging = staging_dir(tmp_path / "models")
    assert staging.parent == tmp_path / "models" and staging.name.startswith(".tmp-")
    assert not any(staging.iterdir())


def test_the_manifest_records_the_run_and_the_sha256_of_every_file(artifact):
    manifest = json.loads((artifact / MANIFEST).read_text())
    assert manifest["version"] == VERSION and manifest["created"] == "2026-01-02T03:04:05Z"
    assert manifest["files"] == {
        "extra/notes.txt": hashlib.sha256(b"nested files are hashed too").hexdigest(),
        "model.int8.onnx": hashlib.sha256(b"int8 graph").hexdigest(),
        "model.onnx": hashlib.sha256(b"fp32 graph").hexdigest(),
        "tokenizer.json": hashlib.sha256(b"{}").hexdigest(),
    }
    assert manifest["local_only"] == ["model.onnx"]  # listed and hashed, but not archived
    assert manifest["base_model"] == "/models/minilm" and manifest["max_length"] == 96
    assert manifest["params"]["max_length"] == 96 and manifest["params"]["loss"] == "bce"
    assert manifest["triplets"] == {"by_source": {"logs": 30, "bootstrap": 15}, "train": 40, "validation": 5}
    assert manifest["training"]["loss_curve"] == [[1, 0.9], [2, 0.7], [3, 0.5]]
    assert manifest["training"]["validation"][1] == {"step": 3, "epoch": 1.0, "mrr": 0.66, "loss": 0.6}
    assert manifest["parity"]["int8"] == {
        "max_abs_diff": 0.02, "mean_abs_diff": 0.004, "rel_error": 0.05, "spearman": 0.99
    }  # fmt: skip
    assert manifest["parity"]["thresholds"]["int8_rel_error"] == 0.25
    assert verify_manifest(artifact) == manifest


@pytest.mark.parametrize(
    ("tamper", "complaint"),
    [
        (
            lambda d: (d / "model.int8.onnx").write_bytes(b"int8 graph, patched"),
            "sha256 mismatch model.int8.onnx",
        ),
        (lambda d: (d / "tokenizer.json").unlink(), "missing tokenizer.json"),
        (lambda d: (d / "extra" / "payload.py").write_text("import os"), "unlisted extra/payload.py"),
    ],
)
def test_a_tampered_artifact_fails_verification(artifact, tamper, complaint):
    tamper(artifact)
    with pytest.raises(ManifestError, match=complaint):
        verify_manifest(artifact)


def test_a_missing_or_broken_manifest_fails_verification(artifact):
    (artifact / MANIFEST).write_text("{not json")
    with pytest.raises(ManifestError, match="not JSON"):
        verify_manifest(artifact)
    (artifact / MANIFEST).unlink()
    with pytest.raises(ManifestError, match=r"no manifest\.json"):
        verify_manifest(artifact)


def test_publish_renames_the_complete_artifact_in_one_step(artifact):
    models = artifact.parent
    final = publish(artifact, models, VERSION)
    assert final == models / VERSION and not artifact.exists()
    assert verify_manifest(final)["version"] == VERSION


def test_an_incomplete_artifact_is_never_published(artifact):
    models = artifact.parent
    (artifact / MANIFEST).unlink()
    with pytest.raises(ManifestError):
        publish(artifact, models, VERSION)
    assert not (models / VERSION).exists() and artifact.exists()


def test_publish_never_replaces_an_existing_version(artifact):
    models = artifact.parent
    (models / VERSION).mkdir()  # an empty directory, which rename(2) would silently replace
    with pytest.raises(ManifestError, match="already exists"):
        publish(artifact, models, VERSION)
    assert artifact.exists()
