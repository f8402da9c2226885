"""Writing the combiner as served: `combiner.onnx` + `combiner.json` (contract of `shared.combiner`).

The graph takes `features` (float32 [N, len(FEATURES)]) and returns one score per row:

    score = scale x ranker(features[:, RANKER_COLUMNS]) - prior x fusion_rank_log + ce_weight x ce_logit

LambdaMART: the LightGBM trees converted by onnxmltools (TreeEnsembleRegressor), fed by a Gather
of the ranker's columns and multiplied by the scale, plus one MatMul over all columns for the
fusion prior and the cross-encoder. Ensemble: the same, the trees' scale and the MatMul's weights
also holding the halves of the mean (the logistic model's coefficients join the prior's and the
cross-encoder's weights). Logistic: the whole score is linear, so one MatMul over all columns and
an Add. Serving needs onnxruntime only.

Before anything is written, the graph's scores are compared with the native ones on the training
rows; an export that differs by more than `PARITY_TOLERANCE` x max(1, largest |score|) raises
ParityError (float32 ONNX against float64 numpy / LightGBM's double thresholds).

Importances (shares summing to 1): the score's three parts are weighed by their within-group
variance (the ranker's is 1 by its scale; the prior's and the cross-encoder's are measured on the
groups' rows), then the ranker's share is split by its own importances (LightGBM gain, or
|coefficient x feature std|) and the other two go to `fusion_rank_log` and `ce_logit`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from services.trainer.combiner.models import RANKER_COLUMNS, Ranker
from services.trainer.combiner.select import CE_LOGIT, FUSION_RANK, Choice, final_scores
from shared.combiner import FORMAT, INPUT, META_FILE, MODEL_FILE
from shared.features import FEATURES

OPSET = 15  # the highest onnxmltools 1.16 converts to
OUTPUT = "score"
PARITY_TOLERANCE = 1e-4


class ParityError(RuntimeError):
    """The exported graph does not score like the native model."""


def combiner_graph(ranker: Ranker, choice: Choice) -> onnx.ModelProto:
    return _linear_graph(ranker, choice) if ranker.kind == "logistic" else _tree_graph(ranker, choice)


def _linear_part(ranker: Ranker, choice: Choice) -> tuple[float, np.ndarray, float]:
    """(scale of the raw tree output, weights over all FEATURES, bias) of a tree graph's score."""
    weights = np.zeros(len(FEATURES), dtype=np.float64)
    weights[FUSION_RANK] -= choice.prior
    weights[CE_LOGIT] += choice.ce_weight
    if ranker.kind != "ensemble":
        return ranker.scale, weights, 0.0
    trees, linear = ranker.model
    coef, intercept = linear.model
    half = ranker.scale / 2
    weights[list(RANKER_COLUMNS)] += half * linear.scale * np.asarray(coef)
    return half * trees.scale, weights, half * linear.scale * intercept


def _linear_graph(ranker: Ranker, choice: Choice) -> onnx.ModelProto:
    coef, intercept = ranker.model
    weights = np.zeros(len(FEATURES), dtype=np.float64)
    weights[list(RANKER_COLUMNS)] = ranker.scale * np.asarray(coef)
    weights[FUSION_RANK] -= choice.prior
    weights[CE_LOGIT] += choice.ce_weight
    nodes = [
        helper.make_node("MatMul", [INPUT, "weights"], ["linear"]),
        helper.make_node("Add", ["linear", "bias"], [OUTPUT]),
    ]
    initializers = [
        numpy_helper.from_array(weights.astype(np.float32).reshape(-1, 1), "weights"),
        numpy_helper.from_array(np.array([ranker.scale * intercept], dtype=np.float32), "bias"),
    ]
    graph = helper.make_graph(nodes, "combiner_logistic", [_input()], [_output()], initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="codesift")


def _tree_graph(ranker: Ranker, choice: Choice) -> onnx.ModelProto:
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    tree_scale, weights, bias = _linear_part(ranker, choice)
    booster = ranker.model[0].model if ranker.kind == "ensemble" else ranker.model
    trees = onnxmltools.convert_lightgbm(
        booster,
        initial_types=[("ranker_input", FloatTensorType([None, len(RANKER_COLUMNS)]))],
        target_opset=OPSET,
        zipmap=False,
    )
    _round_thresholds_down(trees, booster)
    graph = trees.graph
    tree_output = graph.output[0].name
    del graph.input[:]
    del graph.output[:]
    graph.input.append(_input())
    head = [helper.make_node("Gather", [INPUT, "ranker_columns"], ["ranker_input"], axis=1)]
    tail = [helper.make_node("Mul", [tree_output, "scale"], ["ranker_score"])]
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(RANKER_COLUMNS, dtype=np.int64), "ranker_columns"),
            numpy_helper.from_array(np.array([tree_scale], dtype=np.float32), "scale"),
        ]
    )
    terms = ["ranker_score"]
    if weights.any() or bias:
        graph.initializer.extend(
            [
                numpy_helper.from_array(weights.astype(np.float32).reshape(-1, 1), "linear_weights"),
                numpy_helper.from_array(np.array([bias], dtype=np.float32), "linear_bias"),
            ]
        )
        tail += [
            helper.make_node("MatMul", [INPUT, "linear_weights"], ["linear_product"]),
            helper.make_node("Add", ["linear_product", "linear_bias"], ["linear_term"]),
        ]
        terms.append("linear_term")
    total = terms[0]
    for i, term in enumerate(terms[1:]):
        total_next = f"sum_{i}"
        tail.append(helper.make_node("Add", [total, term], [total_next]))
        total = total_next
    tail.append(helper.make_node("Identity", [total], [OUTPUT]))
    nodes = [*head, *graph.node, *tail]
    del graph.node[:]
    graph.node.extend(nodes)
    graph.output.append(_output())
    graph.name = f"combiner_{ranker.kind}"
    for opset in trees.opset_import:
        if opset.domain in ("", "ai.onnx"):
            opset.version = OPSET
    trees.producer_name = "codesift"
    onnx.checker.check_model(trees)
    return trees


def _round_thresholds_down(trees: onnx.ModelProto, booster: Any) -> None:
    """Make the float32 thresholds of the graph split float32 features as LightGBM's doubles do.

    LightGBM compares a feature with a double threshold t (x <= t); the graph holds float32(t),
    which rounds up about a third of the time, and then a feature equal to float32(t) goes left in
    the graph but right in LightGBM (a whole leaf's difference, and a failed parity check). The
    largest float32 not above t splits every float32 feature exactly as t does. A float32 value
    that stands for two thresholds rounding in different directions is left as it is (parity
    still checks the result).
    """
    thresholds: dict[float, set[bool]] = {}
    for tree in booster.booster_.dump_model()["tree_info"]:
        stack = [tree["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_index" not in node or not isinstance(node.get("threshold"), float):
                continue
            t = node["threshold"]
            thresholds.setdefault(float(np.float32(t)), set()).add(float(np.float32(t)) > t)
            stack += [node["left_child"], node["right_child"]]
    for node in trees.graph.node:
        if node.op_type != "TreeEnsembleRegressor":
            continue
        attributes = {attribute.name: attribute for attribute in node.attribute}
        modes = attributes["nodes_modes"].strings
        values = attributes["nodes_values"].floats
        rounded = [
            float(np.nextafter(np.float32(v), np.float32(-np.inf)))
            if mode == b"BRANCH_LEQ" and thresholds.get(float(np.float32(v))) == {True}
            else v
            for mode, v in zip(modes, values, strict=True)
        ]
        del values[:]
        values.extend(rounded)


def _input() -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, [None, len(FEATURES)])


def _output() -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [None, 1])


def onnx_scores(model: onnx.ModelProto, rows: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    out = session.run(None, {INPUT: np.ascontiguousarray(rows, dtype=np.float32)})[0]
    return np.asarray(out, dtype=np.float64).reshape(len(rows), -1)[:, 0]


def parity(model: onnx.ModelProto, ranker: Ranker, choice: Choice, rows: np.ndarray) -> dict[str, float]:
    """Max abs difference ONNX vs native on `rows`; raises ParityError above the tolerance."""
    native = final_scores(ranker, choice, rows)
    exported = onnx_scores(model, rows)
    diff = float(np.abs(native - exported).max()) if len(rows) else 0.0
    limit = PARITY_TOLERANCE * max(1.0, float(np.abs(native).max()) if len(rows) else 1.0)
    if not diff <= limit:  # written so that NaN fails
        raise ParityError(
            f"combiner ONNX differs from {ranker.kind} by {diff:.3g} (> {limit:.3g}) on {len(rows)} rows"
        )
    return {"rows": len(rows), "max_abs_diff": diff, "limit": limit}


def importances(
    ranker: Ranker, choice: Choice, rows: Sequence[np.ndarray], ce_rows: Sequence[np.ndarray]
) -> dict[str, float]:
    """Shares of every feature in the served score (see the module docstring); sum 1."""
    parts = {
        "ranker": _within_variance([ranker.predict(r) for r in rows]),
        "prior": _within_variance([choice.prior * r[:, FUSION_RANK] for r in rows]),
        "ce": _within_variance([choice.ce_weight * r[:, CE_LOGIT] for r in ce_rows]) if ce_rows else 0.0,
    }
    total = sum(parts.values())
    shares = {name: 0.0 for name in FEATURES}
    if total <= 0:
        return shares
    stacked = np.concatenate(list(rows))
    for name, share in ranker.importances(stacked).items():
        shares[name] += share * parts["ranker"] / total
    shares[FEATURES[FUSION_RANK]] += parts["prior"] / total
    shares[FEATURES[CE_LOGIT]] += parts["ce"] / total
    return {name: round(value, 6) for name, value in shares.items()}


def _within_variance(scores: Sequence[np.ndarray]) -> float:
    centred = [np.asarray(s, dtype=np.float64) - np.mean(s) for s in scores if len(s)]
    return float(np.mean(np.concatenate(centred) ** 2)) if centred else 0.0


def write_combiner(
    out_dir: Path,
    model: onnx.ModelProto,
    ranker: Ranker,
    choice: Choice,
    *,
    top_n: int,
    importances: dict[str, float],
    training: dict[str, Any],
) -> dict[str, Any]:
    """combiner.onnx and combiner.json into `out_dir`; returns the meta written."""
    meta = {
        "format": FORMAT,
        "kind": ranker.kind,
        "features": list(FEATURES),
        "uses_cross_encoder": choice.ce_weight > 0,
        "top_n": top_n,
        "importances": importances,
        "training": training,
    }
    out_dir = Path(out_dir)
    (out_dir / MODEL_FILE).write_bytes(model.SerializeToString())
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    return meta
