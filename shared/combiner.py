"""The learned ranker as served: `combiner.onnx` + `combiner.json` inside a model artifact.

The trainer writes both beside the cross-encoder (same artifact, manifest, gate and hot reload).
`combiner.onnx` maps rows of `shared.features.FEATURES` (float32, one row per candidate, input
`features`) to one score per row, higher is better; its graph holds everything learned (tree
ensemble or linear model, and the weight of the cross-encoder's logit when it uses one).
`combiner.json` says what it was trained on:

    {"format": 1, "kind": "lambdamart" | "logistic" | "ensemble", "features": [...],
     "uses_cross_encoder": bool, "top_n": 20, "importances": {"feature": share, ...}, "training": {...}}

A combiner trained on another list of features than this build computes is refused: its rows would
be read column by column as something else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from shared.artifacts import ArtifactError
from shared.features import FEATURES

MODEL_FILE = "combiner.onnx"
META_FILE = "combiner.json"
INPUT = "features"
FORMAT = 1
KINDS = ("lambdamart", "logistic", "ensemble")


def has_combiner(model_dir: Path) -> bool:
    return (Path(model_dir) / MODEL_FILE).is_file()


def read_meta(model_dir: Path) -> dict[str, Any]:
    """combiner.json, checked against this build's features; raises ArtifactError."""
    path = Path(model_dir) / META_FILE
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise ArtifactError(f"{Path(model_dir).name}: {MODEL_FILE} without {META_FILE}") from None
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path}: not JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ArtifactError(
            f"{path}: format {meta.get('format') if isinstance(meta, dict) else None!r}, expected {FORMAT}"
        )
    if meta.get("kind") not in KINDS:
        raise ArtifactError(f"{path}: kind {meta.get('kind')!r} is not one of {', '.join(KINDS)}")
    if tuple(meta.get("features") or ()) != FEATURES:
        raise ArtifactError(
            f"{path}: trained on features {meta.get('features')!r}; this build computes {list(FEATURES)!r}"
        )
    return meta


class Combiner:
    """One onnxruntime session over feature rows; never changes once built (replicas swap it whole)."""

    def __init__(self, model_dir: Path, threads: int = 1):
        self.meta = read_meta(model_dir)
        self.kind: str = self.meta["kind"]
        self.uses_cross_encoder = bool(self.meta.get("uses_cross_encoder"))
        self.importances: dict[str, float] = dict(self.meta.get("importances") or {})
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 50 rows: a thread pool costs more than it saves
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(Path(model_dir) / MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )
        inputs = self.session.get_inputs()
        if [i.name for i in inputs] != [INPUT]:
            raise ArtifactError(f"{MODEL_FILE}: inputs {[i.name for i in inputs]}, expected [{INPUT!r}]")
        width = inputs[0].shape[-1]
        if isinstance(width, int) and width != len(FEATURES):
            raise ArtifactError(f"{MODEL_FILE}: takes {width} features, this build computes {len(FEATURES)}")

    def score(self, rows: np.ndarray) -> np.ndarray:
        """One float64 score per row of `rows` (float32, FEATURES columns)."""
        if len(rows) == 0:
            return np.zeros(0)
        out = self.session.run(None, {INPUT: np.ascontiguousarray(rows, dtype=np.float32)})[0]
        return np.asarray(out, dtype=np.float64).reshape(len(rows), -1)[:, 0]
