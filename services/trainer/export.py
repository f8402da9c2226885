"""Export a trained cross-encoder to ONNX (fp32 and dynamic int8) and check it scores like PyTorch.

`export_onnx` writes `model.onnx`, `model.int8.onnx`, the tokenizer files and config.json, then
scores held-out pairs three ways: PyTorch (`CrossEncoder.predict` logits), ONNX fp32 and ONNX int8
(`shared.scoring.CrossEncoderScorer`, what the search replicas run). It raises ParityError when
the fp32 export does not reproduce PyTorch or int8 reorders the pairs too much.
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
    fp32_spearman: float = 0.999
    # Measured on trained MiniLM cross-encoders (per-channel int8 MatMul weights): 0.99+ when the
    # logits are spread out; an untrained head (logits within ~0.01) reaches only ~0.9.
    int8_spearman: float = 0.95


class Parity(msgspec.Struct):
    max_abs_diff: float
    spearman: float


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
    fewer than 2 validation pairs are given (a rank correlation needs them).
    """
    thresholds = thresholds or ParityThresholds()
    if len(validation_pairs) < 2:
        raise ValueError(f"parity needs at least 2 validation pairs, got {len(validation_pairs)}")
    hf_dir, out_dir = Path(hf_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    export_seconds, quantize_seconds = write_onnx(hf_dir, out_dir)
    max_length = trained_max_length(hf_dir)
    reference = pytorch_scores(hf_dir, validation_pairs, max_length)
    fp32, int8 = (
        _parity(reference, CrossEncoderScorer(out_dir, quantized=q, max_length=max_length), validation_pairs)
        for q in (False, True)
    )
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
    if not fp32.spearman >= limits.fp32_spearman:
        failures.append(f"fp32 Spearman {fp32.spearman:.4f} < {limits.fp32_spearman}")
    if not int8.spearman >= limits.int8_spearman:
        failures.append(f"int8 Spearman {int8.spearman:.4f} < {limits.int8_spearman}")
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


def _parity(reference: np.ndarray, scorer: CrossEncoderScorer, pairs: Sequence[tuple[str, str]]) -> Parity:
    scores = scorer.score_pairs(pairs)
    return Parity(max_abs_diff=float(np.abs(scores - reference).max()), spearman=spearman(reference, scores))
