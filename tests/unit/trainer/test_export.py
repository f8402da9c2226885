"""A short real training run, its ONNX export and the parity of ONNX with PyTorch, then publication."""

from pathlib import Path

import numpy as np
import pytest

from services.trainer.export import (
    ONNX_FILES,
    ExportResult,
    Parity,
    ParityError,
    ParityThresholds,
    check_parity,
    export_onnx,
    spearman,
)
from services.trainer.manifest import VERSION_PREFIX, publish, staging_dir, verify_manifest, write_manifest
from services.trainer.params import TrainParams
from services.trainer.training import TrainResult, train_cross_encoder
from tests.unit.trainer.tiny_corpus import tiny_triplets

PARAMS = TrainParams(max_length=64, batch_size=8, epochs=1, negatives_per_query=2, validation_fraction=0.2)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> TrainResult:
    return train_cross_encoder(tiny_triplets(36), tmp_path_factory.mktemp("train"), PARAMS)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def staged(trained, models_dir) -> tuple[Path, ExportResult]:
    staging = staging_dir(models_dir)
    return staging, export_onnx(trained.hf_dir, staging, trained.parity_pairs)


@pytest.mark.slow
def test_a_full_run_records_every_step_and_each_epoch(trained):
    assert trained.stop_reason == "completed" and trained.steps == trained.planned_steps == 11  # 29 x 3 / 8
    assert [point.step for point in trained.loss_curve] == list(range(1, 12))
    assert [(v.step, v.epoch) for v in trained.validation] == [(0, 0.0), (11, 1.0)]
    assert len(trained.parity_pairs) == 7 * 3  # held-out queries x (positive + 2 negatives)


@pytest.mark.slow
def test_export_writes_both_models_beside_the_tokenizer(staged):
    staging, result = staged
    for name in (*ONNX_FILES, "tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        assert (staging / name).is_file(), name
    assert not (staging / "optimum").exists()
    assert result.max_length == 64
    assert result.sizes["model.int8.onnx"] < 0.75 * result.sizes["model.onnx"]


@pytest.mark.slow
def test_fp32_onnx_scores_like_pytorch_and_int8_is_recorded(staged):
    _, result = staged
    assert result.pairs == 21
    assert result.fp32.max_abs_diff < 1e-4 and result.fp32.spearman > 0.999
    assert 0 < result.int8.max_abs_diff < 0.1  # int8 moves the logits a little, not nothing
    assert -1 <= result.int8.spearman <= 1


@pytest.mark.slow
def test_the_artifact_appears_under_its_version_only_when_complete(trained, staged, models_dir):
    staging, result = staged
    assert not [p for p in models_dir.iterdir() if p.name.startswith(VERSION_PREFIX)]
    version = VERSION_PREFIX + "20260101-120000"
    manifest = write_manifest(staging, version=version, training=trained, export=result)
    assert set(manifest["files"]) >= {*ONNX_FILES, "tokenizer.json"}
    assert manifest["triplets"]["by_source"] == {"bootstrap": 24, "golden": 12}
    assert len(manifest["training"]["loss_curve"]) == 11
    assert manifest["parity"]["fp32"]["max_abs_diff"] == result.fp32.max_abs_diff
    final = publish(staging, models_dir, version)
    assert final == models_dir / version and not staging.exists()
    assert sorted(p.name for p in models_dir.iterdir()) == [version]
    assert verify_manifest(final)["version"] == version


def figures(fp32_diff: float, fp32_rho: float, int8_rho: float) -> ExportResult:
    return ExportResult(
        out_dir=Path("x"),
        max_length=64,
        pairs=10,
        fp32=Parity(fp32_diff, fp32_rho),
        int8=Parity(0.01, int8_rho),
        thresholds=ParityThresholds(),
        export_seconds=1.0,
        quantize_seconds=1.0,
        sizes={},
    )


@pytest.mark.parametrize(
    ("result", "complaint"),
    [
        (figures(2e-3, 1.0, 0.99), "fp32 max abs diff 2.00e-03 > 1e-03"),
        (figures(1e-6, 0.99, 0.99), "fp32 Spearman 0.9900 < 0.999"),
        (figures(1e-6, 1.0, 0.90), "int8 Spearman 0.9000 < 0.95"),
        (figures(float("nan"), 1.0, 0.99), "fp32 max abs diff nan"),
    ],
)
def test_parity_failures_raise_with_the_figures(result, complaint):
    with pytest.raises(ParityError, match="disagree on 10 pairs") as caught:
        check_parity(result)
    assert complaint in str(caught.value)


def test_parity_within_thresholds_passes():
    check_parity(figures(1e-6, 1.0, 0.96))


def test_spearman_ranks_with_ties_and_constants():
    assert spearman(np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0, 30.0])) == pytest.approx(1.0)
    assert spearman(np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0])) == pytest.approx(-1.0)
    assert spearman(np.array([1.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0])) == pytest.approx(0.8660254)
    assert spearman(np.array([1.0, 1.0]), np.array([1.0, 2.0])) == 0.0


def test_parity_needs_pairs(tmp_path):
    with pytest.raises(ValueError, match="at least 2 validation pairs"):
        export_onnx(tmp_path, tmp_path / "out", [("q", "t")])
