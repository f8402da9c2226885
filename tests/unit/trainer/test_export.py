"""A short real training run, its ONNX export and the parity of ONNX with PyTorch, then publication."""

import shutil
from pathlib import Path

import msgspec
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
    measure_parity,
    parity_figures,
    spearman,
)
from services.trainer.manifest import VERSION_PREFIX, publish, staging_dir, verify_manifest, write_manifest
from services.trainer.params import TrainParams
from services.trainer.training import PARITY_PAIRS, TrainResult, parity_pairs, train_cross_encoder
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
    assert len(trained.parity_pairs) == PARITY_PAIRS == len(set(trained.parity_pairs))
    held_out = {q for q, _ in trained.parity_pairs[:21]}  # 7 held-out queries x (positive + 2 negatives)
    assert len(held_out) == 7 and len({q for q, _ in trained.parity_pairs}) == 36


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
    assert result.pairs == PARITY_PAIRS
    assert result.fp32.max_abs_diff < 1e-4 and result.fp32.rel_error < 0.01
    assert 0 < result.int8.max_abs_diff < 0.1  # int8 moves the logits a little, not nothing
    assert 0 < result.int8.rel_error < result.thresholds.int8_rel_error
    assert -1 <= result.int8.spearman <= 1


def broken_int8(staging: Path, out: Path, layer: int) -> Path:
    """A copy of the artifact whose int8 model has one MatMul's weights shuffled (a wrong quantization)."""
    import onnx
    from onnx import numpy_helper

    shutil.copytree(staging, out)
    model = onnx.load(out / "model.int8.onnx")
    weights = [i for i in model.graph.initializer if i.name.endswith("_quantized")]
    target = weights[layer]
    array = numpy_helper.to_array(target)
    shuffled = np.random.default_rng(0).permutation(array.reshape(-1)).reshape(array.shape)
    target.CopyFrom(numpy_helper.from_array(shuffled, target.name))
    onnx.save(model, out / "model.int8.onnx")
    return out


@pytest.mark.slow
@pytest.mark.parametrize("layer", [10, -1])
def test_a_broken_int8_model_is_refused(trained, staged, tmp_path, layer):
    staging, result = staged
    broken = broken_int8(staging, tmp_path / "broken", layer)
    fp32, int8 = measure_parity(trained.hf_dir, broken, trained.parity_pairs, result.max_length)
    assert fp32 == result.fp32  # the fp32 model is untouched
    assert int8.rel_error > 2 * result.thresholds.int8_rel_error
    with pytest.raises(ParityError, match="int8 relative error"):
        check_parity(msgspec.structs.replace(result, int8=int8))


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


def figures(fp32_diff: float, int8_rel: float, int8_rho: float = 0.5) -> ExportResult:
    return ExportResult(
        out_dir=Path("x"),
        max_length=64,
        pairs=40,
        fp32=Parity(fp32_diff, fp32_diff, 0.0, 1.0),
        int8=Parity(0.01, 0.005, int8_rel, int8_rho),
        thresholds=ParityThresholds(),
        export_seconds=1.0,
        quantize_seconds=1.0,
        sizes={},
    )


@pytest.mark.parametrize(
    ("result", "complaint"),
    [
        (figures(2e-3, 0.1), "fp32 max abs diff 2.00e-03 > 1e-03"),
        (figures(1e-6, 0.30), "int8 relative error 0.300 > 0.25 (mean abs diff 5.00e-03, Spearman 0.5000)"),
        (figures(float("nan"), 0.1), "fp32 max abs diff nan"),
        (figures(1e-6, float("nan")), "int8 relative error nan"),
        (figures(1e-6, float("inf")), "int8 relative error inf"),
    ],
)
def test_parity_failures_raise_with_the_figures(result, complaint):
    with pytest.raises(ParityError, match="disagree on 40 pairs") as caught:
        check_parity(result)
    assert complaint in str(caught.value)


def test_parity_within_thresholds_passes_whatever_spearman_says_of_near_ties():
    check_parity(figures(1e-6, 0.2, int8_rho=0.3))


def test_relative_error_is_scale_free_and_names_constant_references():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=200)
    noise = rng.normal(scale=0.1, size=200)
    small, large = (
        parity_figures(reference * 0.01, (reference + noise) * 0.01),
        parity_figures(reference * 10, (reference + noise) * 10),
    )
    assert small.rel_error == pytest.approx(large.rel_error) == pytest.approx(0.08, abs=0.02)
    assert small.max_abs_diff < 0.01 < large.max_abs_diff
    assert parity_figures(np.ones(4), np.ones(4)).rel_error == 0.0
    assert parity_figures(np.ones(4), np.ones(4) + 1e-3).rel_error == float("inf")


def test_parity_pairs_are_candidate_lists_held_out_first_then_topped_up():
    few = tiny_triplets(6, negatives=2)
    pairs = parity_pairs(few[:2], few[2:])
    first = few[0]
    assert pairs[:3] == [(first.query, text) for text in [first.positive_text, *first.negative_texts]]
    assert len(pairs) == len(set(pairs)) < PARITY_PAIRS
    own = {(t.query, x) for t in few for x in [t.positive_text, *t.negative_texts]}
    crossed = {(t.query, u.positive_text) for t in few for u in few}  # each query with every positive
    assert set(pairs) == own | crossed
    assert len(parity_pairs([], tiny_triplets(36, negatives=2))) == PARITY_PAIRS


def test_spearman_ranks_with_ties_and_constants():
    assert spearman(np.array([1.0, 2.0, 3.0]), np.array([10.0, 20.0, 30.0])) == pytest.approx(1.0)
    assert spearman(np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0])) == pytest.approx(-1.0)
    assert spearman(np.array([1.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0])) == pytest.approx(0.8660254)
    assert spearman(np.array([1.0, 1.0]), np.array([1.0, 2.0])) == 0.0


def test_parity_needs_pairs(tmp_path):
    with pytest.raises(ValueError, match="at least 32 validation pairs, got 31"):
        export_onnx(tmp_path, tmp_path / "out", [("q", "t")] * 31)
