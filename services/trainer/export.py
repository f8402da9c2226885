"""Export a trained cross-encoder to ONNX (fp32 and dynamic int8) and check it scores like PyTorch.

`export_onnx` writes `model.onnx`, `model.int8.onnx`, the tokenizer files and config.json, then
scores held-out pairs three ways: PyTorch (`CrossEncoder.predict` logits), ONNX fp32 and ONNX int8
(`shared.scoring.CrossEncoderScorer`, what the search replicas run). It raises ParityError when
the fp32 export does not reproduce PyTorch or int8 moves the scores too far.

The int8 rule judges what serving sees: a ranking of candidate lists by score. An error matters
only against the spread of the scores it could reorder, so int8 is measured by its relative error,
mean |int8 - PyTorch| / std(PyTorch) over every pair. That ratio does not depend on how far the
head is trained (both grow with the head's weights): a correct per-channel int8 MiniLM measured
0.04-0.05 on a trained head and 0.14 on a barely trained one (5 steps, logits within 0.06), where
Spearman on 10 near-tied pairs swung between 0.94 and 1.0. Broken quantizations measured 0.4-1.5
(a layer's weights shuffled, the last layer's scales off by half, every scale off by 10%).
"""

from __future__ import annotations

import shutil
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import msgspec
import numpy as np

from shared.scoring import CrossEncoderScorer, trained_max_length

ONNX_FILES = ("model.onnx", "model.int8.onnx")
# tokenizer.json is what the scorer reads; the others let transformers load the tokenizer too
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "sentencepiece.bpe.model",
    "spiece.model",
    "config.json",
)


class ParityError(RuntimeError):
    """The ONNX export scores the validation pairs differently from PyTorch."""


class ParityThresholds(msgspec.Struct, frozen=True):
    fp32_max_abs_diff: float = 1e-3  # measured: ~1e-6 (ONNX fp32 runs the same float32 graph)
    # mean |int8 - PyTorch| / std(PyTorch): 0.04-0.14 measured correct, 0.4+ broken (module doc)
    int8_rel_error: float = 0.25
    min_pairs: int = 32  # fewer pairs cannot tell a spread from noise


class Parity(msgspec.Struct):
    max_abs_diff: float
    mean_abs_diff: float
    rel_error: float  # mean_abs_diff / std of the PyTorch scores (inf when they are all equal)
    spearman: float  # reported, not gated: unstable on near-tied scores


class ExportResult(msgspec.Struct, kw_only=True):
    out_dir: Path
    max_length: int
    pairs: int  # validation pairs scored
    fp32: Parity
    int8: Parity
    thresholds: ParityThresholds
    export_seconds: float
    quantize_seconds: float
    sizes: dict[str, int]  # bytes of model.onnx and model.int8.onnx


def export_onnx(
    hf_dir: Path,
    out_dir: Path,
    validation_pairs: Sequence[tuple[str, str]],
    thresholds: ParityThresholds | None = None,
) -> ExportResult:
    """Write the ONNX files beside the tokenizer into `out_dir` and check parity on `validation_pairs`.

    Raises ParityError (with the figures) when the export fails `thresholds`; ValueError when
    fewer than `thresholds.min_pairs` validation pairs are given.
    """
    thresholds = thresholds or ParityThresholds()
    if len(validation_pairs) < thresholds.min_pairs:
        raise ValueError(
            f"parity needs at least {thresholds.min_pairs} validation pairs, got {len(validation_pairs)}"
        )
    hf_dir, out_dir = Path(hf_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    export_seconds, quantize_seconds = write_onnx(hf_dir, out_dir)
    max_length = trained_max_length(hf_dir)
    fp32, int8 = measure_parity(hf_dir, out_dir, validation_pairs, max_length)
    result = ExportResult(
        out_dir=out_dir,
        max_length=max_length,
        pairs=len(validation_pairs),
        fp32=fp32,
        int8=int8,
        thresholds=thresholds,
        export_seconds=export_seconds,
        quantize_seconds=quantize_seconds,
        sizes={name: (out_dir / name).stat().st_size for name in ONNX_FILES},
    )
    check_parity(result)
    return result


def check_parity(result: ExportResult) -> None:
    """Raise ParityError naming every figure outside `result.thresholds`."""
    fp32, int8, limits = result.fp32, result.int8, result.thresholds
    failures = []
    if not fp32.max_abs_diff <= limits.fp32_max_abs_diff:  # written so that NaN fails
        failures.append(f"fp32 max abs diff {fp32.max_abs_diff:.2e} > {limits.fp32_max_abs_diff:.0e}")
    if not int8.rel_error <= limits.int8_rel_error:
        failures.append(
            f"int8 relative error {int8.rel_error:.3f} > {limits.int8_rel_error}"
            f" (mean abs diff {int8.mean_abs_diff:.2e}, Spearman {int8.spearman:.4f})"
        )
    if failures:
        raise ParityError(f"ONNX and PyTorch scores disagree on {result.pairs} pairs: " + "; ".join(failures))


def write_onnx(hf_dir: Path, out_dir: Path) -> tuple[float, float]:
    """model.onnx with optimum, model.int8.onnx, tokenizer files; returns (export, quantize) seconds."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from optimum.exporters.onnx import main_export

    began = time.perf_counter()
    raw = out_dir / "optimum"
    with warnings.catch_warnings():
        # The tracer warns about constants it folds (attention-mask helpers); they are expected.
        warnings.simplefilter("ignore")
        main_export(
            str(hf_dir),
            raw,
            task="text-classification",
            library_name="transformers",  # the logits of BertForSequenceClassification, no pooling
            local_files_only=True,
            do_validation=False,  # parity is checked below, on real pairs and on the int8 model too
        )
    (raw / "model.onnx").rename(out_dir / "model.onnx")
    shutil.rmtree(raw)
    exported = time.perf_counter()
    # Per-channel int8 MatMul weights, as for the embedder (per-tensor lost far more accuracy
    # there); the classifier head (a Gemm) stays fp32.
    quantize_dynamic(
        out_dir / "model.onnx",
        out_dir / "model.int8.onnx",
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["MatMul"],
    )
    quantized = time.perf_counter()
    for name in TOKENIZER_FILES:
        if (hf_dir / name).exists():
            shutil.copyfile(hf_dir / name, out_dir / name)
    return exported - began, quantized - exported


def pytorch_scores(hf_dir: Path, pairs: Sequence[tuple[str, str]], max_length: int) -> np.ndarray:
    """The logits `CrossEncoder.predict` gives (no sigmoid), float32."""
    import torch
    from sentence_transformers.cross_encoder import CrossEncoder

    model = CrossEncoder(str(hf_dir), local_files_only=True, device="cpu", max_length=max_length)
    scores = model.predict(
        list(pairs), activation_fn=torch.nn.Identity(), batch_size=16, show_progress_bar=False
    )
    return np.asarray(scores, dtype=np.float32)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties); 0.0 when either side is constant."""
    from scipy.stats import rankdata

    ra, rb = rankdata(a), rankdata(b)
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


def parity_figures(reference: np.ndarray, scores: np.ndarray) -> Parity:
    """How far `scores` are from `reference`, absolutely and relative to the reference's spread."""
    diff = np.abs(np.asarray(scores, dtype=np.float64) - reference)
    mean, spread = float(diff.mean()), float(np.std(reference))
    rel = mean / spread if spread > 0 else (0.0 if mean == 0 else float("inf"))
    rho = spearman(reference, scores)
    return Parity(max_abs_diff=float(diff.max()), mean_abs_diff=mean, rel_error=rel, spearman=rho)


def measure_parity(
    hf_dir: Path, out_dir: Path, pairs: Sequence[tuple[str, str]], max_length: int
) -> tuple[Parity, Parity]:
    """(fp32, int8) figures of the ONNX files in `out_dir` against PyTorch on `pairs`."""
    reference = pytorch_scores(hf_dir, pairs, max_length)

    def figures(quantized: bool) -> Parity:
        scorer = CrossEncoderScorer(out_dir, quantized=quantized, max_length=max_length)
        return parity_figures(reference, scorer.score_pairs(pairs))

    return figures(False), figures(True)
