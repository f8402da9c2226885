"""A learned combiner made by hand, for tests that serve, evaluate or show one.

`write_combiner(directory, weights)` writes `combiner.onnx` — a linear graph, score = features @ w
with w zero except `weights` (feature name -> weight) — and a valid `combiner.json` beside it.
`combiner_artifact(...)` makes a whole model artifact as the trainer publishes one: the
cross-encoder files (copied from a real model directory, or stand-in bytes that fail to load, to
prove a model that does not use them never opens them), the combiner, and a verified manifest with
its "combiner" section. For instance, a combiner that prefers test files:

    combiner_artifact(models_dir, version, {"file_test": 5.0, "fusion_rank_log": -1.0})
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from shared.artifacts import LOCAL_ONLY, MANIFEST, file_hashes
from shared.combiner import FORMAT, INPUT, META_FILE, MODEL_FILE
from shared.features import FEATURES, INDEX

OUTPUT = "scores"
STAND_IN_FILES = {  # cross-encoder files that onnxruntime and tokenizers refuse to open
    "model.int8.onnx": b"not an onnx model",
    "tokenizer.json": b"not a tokenizer",
}
TRIPLETS = {"bootstrap": 30, "golden": 10}  # enough for the promoter's triplets gate


def linear_graph(weights: Mapping[str, float]) -> onnx.ModelProto:
    """features float32 [N, len(FEATURES)] -> scores float32 [N, 1] = features @ w."""
    unknown = set(weights) - set(FEATURES)
    if unknown:
        raise ValueError(f"weights: unknown features {sorted(unknown)}")
    w = np.zeros((len(FEATURES), 1), dtype=np.float32)
    for name, value in weights.items():
        w[INDEX[name], 0] = value
    graph = helper.make_graph(
        [helper.make_node("MatMul", [INPUT, "w"], [OUTPUT])],
        "linear_combiner",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["N", len(FEATURES)])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["N", 1])],
        initializer=[numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # readable by any onnxruntime this project supports
    onnx.checker.check_model(model)
    return model


def importances(weights: Mapping[str, float]) -> dict[str, float]:
    """Each weighted feature's share of the total absolute weight (sums to 1)."""
    total = sum(abs(v) for v in weights.values()) or 1.0
    return {name: abs(value) / total for name, value in weights.items() if value}


def combiner_meta(
    weights: Mapping[str, float], *, uses_cross_encoder: bool = False, kind: str = "logistic"
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "kind": kind,
        "features": list(FEATURES),
        "uses_cross_encoder": uses_cross_encoder,
        "top_n": 20,
        "importances": importances(weights),
        "training": {"groups": 12, "hand_made": True},
    }


def write_combiner(
    directory: Path,
    weights: Mapping[str, float],
    *,
    uses_cross_encoder: bool = False,
    kind: str = "logistic",
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """combiner.onnx + combiner.json in `directory`; `meta` overrides fields of the json."""
    directory.mkdir(parents=True, exist_ok=True)
    onnx.save(linear_graph(weights), str(directory / MODEL_FILE))
    document = combiner_meta(weights, uses_cross_encoder=uses_cross_encoder, kind=kind) | dict(meta or {})
    (directory / META_FILE).write_text(json.dumps(document, indent=2))
    return directory


def combiner_section(
    weights: Mapping[str, float], *, uses_cross_encoder: bool = False, kind: str = "logistic"
) -> dict[str, Any]:
    """The manifest's "combiner" section the trainer writes for such a combiner."""
    return {
        "kind": kind,
        "uses_cross_encoder": uses_cross_encoder,
        "ce_weight": float(weights.get("ce_logit", 0.0)),
        "importances": importances(weights),
        "holdout": {"groups": 8, "mrr_fusion": 0.61, "mrr_combiner": 0.74, "mrr_combiner_ce": 0.75},
        "groups": {"golden": 8, "bootstrap": 4},
        "train_seconds": 0.5,
    }


def combiner_artifact(
    models_dir: Path,
    version: str,
    weights: Mapping[str, float],
    *,
    cross_encoder: Path | None = None,
    uses_cross_encoder: bool = False,
    kind: str = "logistic",
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """`models_dir/version`: cross-encoder files (from `cross_encoder`, else stand-ins), the
    combiner and a manifest that verifies; returns the directory."""
    directory = models_dir / version
    if cross_encoder is not None:
        shutil.copytree(cross_encoder, directory)
        manifest = json.loads((directory / MANIFEST).read_text())
    else:
        directory.mkdir(parents=True)
        for name, data in STAND_IN_FILES.items():
            (directory / name).write_bytes(data)
        manifest = {"format": 1, "kind": "cross-encoder", "triplets": {"by_source": dict(TRIPLETS)}}
    write_combiner(directory, weights, uses_cross_encoder=uses_cross_encoder, kind=kind, meta=meta)
    manifest |= {
        "version": version,
        "combiner": combiner_section(weights, uses_cross_encoder=uses_cross_encoder, kind=kind),
        "files": file_hashes(directory),
    }
    manifest["local_only"] = [name for name in LOCAL_ONLY if name in manifest["files"]]
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return directory
