"""The rankers over the feature rows: LambdaMART (LightGBM), a logistic regression for tiny data, and
their ensemble (the mean of the two unit-scaled scores).

Both read every feature but the cross-encoder's (`RANKER_COLUMNS`): the cross-encoder overfits
the queries it trained on, so its logit is weighed separately, on held-out queries
(`services.trainer.combiner.select`). Both are deterministic for a seed (LightGBM runs
`deterministic` on at most 2 threads) and train in well under a second on a few thousand rows.

Groups are weighted so that each family of queries (people's: feedback and golden; the code's:
bootstrap) weighs the same in total, whatever its size: a few dozen feedback queries are not
drowned by hundreds of documentation pairs mined from the code, nor do they drown them. On top
of that, each source's groups can weigh less than feedback (`source_weights`, chosen by
cross-validation on people's queries in `select.choose`): what users did outweighs what the code
says about itself.

`Ranker.predict` returns raw scores divided by their pooled within-group standard deviation on
the training rows (`scale`), so the weights chosen beside them keep their meaning when the
ranker is refitted on more groups.

The ensemble averages two rankers that err differently (trees on interactions, a linear model on
smooth trends); on the train-side cross-validation of two repositories it scored above both. The
choice among the three is still made by that cross-validation (`select.choose`), which keeps the
ensemble unless another kind beats it clearly.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from services.trainer.combiner.groups import POSITIVE, Group, SourceWeights, family_weights
from shared.features import CE_COLUMNS, FEATURES

Kind = Literal["lambdamart", "logistic", "ensemble"]
KINDS: tuple[Kind, ...] = ("lambdamart", "logistic", "ensemble")
RANKER_COLUMNS = tuple(i for i in range(len(FEATURES)) if i not in CE_COLUMNS)
THREADS = 2

LAMBDAMART = {
    "objective": "lambdarank",
    "n_estimators": 100,
    "learning_rate": 0.05,
    "num_leaves": 7,
    "min_child_samples": 20,
    "reg_lambda": 1.0,
    "subsample": 1.0,
    "colsample_bytree": 1.0,
    "deterministic": True,
    "force_row_wise": True,
    "n_jobs": THREADS,
    "verbose": -1,
}
LOGISTIC_C = 1.0


@dataclass(frozen=True)
class Training:
    """Judged rows of the groups, with group sizes and per-row weights."""

    rows: np.ndarray  # float32 (n, len(FEATURES))
    labels: np.ndarray  # 0/1
    sizes: list[int]  # rows per group, in order
    weights: np.ndarray  # per row: its group's weight


def training_rows(groups: Sequence[Group], source_weights: SourceWeights | None = None) -> Training:
    if not groups:
        raise ValueError("groups: none to fit on")
    rows, labels, sizes, weights = [], [], [], []
    for group, weight in zip(groups, family_weights(groups, source_weights), strict=True):
        judged = group.judged
        rows.append(group.rows[judged])
        labels.append((group.labels[judged] == POSITIVE).astype(np.int32))
        sizes.append(int(judged.sum()))
        weights.append(np.full(sizes[-1], weight))
    return Training(np.concatenate(rows), np.concatenate(labels), sizes, np.concatenate(weights))


@dataclass(frozen=True)
class Ranker:
    kind: Kind
    model: Any  # lightgbm.LGBMRanker, (coef, intercept) over RANKER_COLUMNS in raw feature units, or
    # for the ensemble (lambdamart Ranker, logistic Ranker)
    scale: float  # raw score x scale: unit pooled within-group std on the training rows

    def raw(self, rows: np.ndarray) -> np.ndarray:
        if self.kind == "ensemble":
            trees, linear = self.model
            return (trees.predict(rows) + linear.predict(rows)) / 2
        x = np.asarray(rows, dtype=np.float32)[:, RANKER_COLUMNS]
        if self.kind == "lambdamart":
            return np.asarray(self.model.predict(x, num_threads=1), dtype=np.float64)
        coef, intercept = self.model
        return x.astype(np.float64) @ coef + intercept

    def predict(self, rows: np.ndarray) -> np.ndarray:
        return self.scale * self.raw(rows)

    def importances(self, rows: np.ndarray) -> dict[str, float]:
        """Each ranker column's share (sum 1): LightGBM's gain, or |coef x feature std| (logistic);
        the ensemble's: the mean of its two rankers' (each is unit-scaled, so each weighs half)."""
        if self.kind == "ensemble":
            trees, linear = (part.importances(rows) for part in self.model)
            return {name: (trees[name] + linear[name]) / 2 for name in trees}
        if self.kind == "lambdamart":
            values = np.asarray(self.model.booster_.feature_importance("gain"), dtype=np.float64)
        else:
            values = np.abs(self.model[0]) * np.asarray(rows, dtype=np.float64)[:, RANKER_COLUMNS].std(0)
        total = values.sum()
        shares = values / total if total > 0 else np.zeros_like(values)
        return {FEATURES[c]: float(s) for c, s in zip(RANKER_COLUMNS, shares, strict=True)}


def fit(
    kind: Kind, groups: Sequence[Group], seed: int = 0, source_weights: SourceWeights | None = None
) -> Ranker:
    """`kind` fitted on `groups` (weighted by family, then by `source_weights`)."""
    if kind == "ensemble":
        parts = (
            fit("lambdamart", groups, seed, source_weights),
            fit("logistic", groups, seed, source_weights),
        )
        return ensemble(parts, groups, source_weights)
    if kind not in KINDS:
        raise ValueError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    data = training_rows(groups, source_weights)
    model = _lambdamart(data, seed) if kind == "lambdamart" else _logistic(data, seed)
    return Ranker(kind, model, _unit_scale(Ranker(kind, model, 1.0).raw(data.rows), data.sizes))


def ensemble(
    parts: tuple[Ranker, Ranker], groups: Sequence[Group], source_weights: SourceWeights | None = None
) -> Ranker:
    """The ensemble of a LambdaMART and a logistic ranker fitted on `groups` (unit-scaled on them)."""
    data = training_rows(groups, source_weights)
    return Ranker("ensemble", parts, _unit_scale(Ranker("ensemble", parts, 1.0).raw(data.rows), data.sizes))


def _lambdamart(data: Training, seed: int) -> Any:
    import lightgbm

    model = lightgbm.LGBMRanker(**LAMBDAMART, random_state=seed)
    model.fit(data.rows[:, RANKER_COLUMNS], data.labels, group=data.sizes, sample_weight=data.weights)
    return model


def _logistic(data: Training, seed: int) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    x = data.rows[:, RANKER_COLUMNS].astype(np.float64)
    mean, std = x.mean(0), x.std(0)
    std[std == 0] = 1.0
    sizes = np.repeat(data.sizes, data.sizes)
    model = LogisticRegression(C=LOGISTIC_C, class_weight="balanced", max_iter=2000, random_state=seed)
    if len(set(data.labels.tolist())) < 2:  # one class only: nothing to learn, a constant ranker
        return np.zeros(x.shape[1]), 0.0
    model.fit((x - mean) / std, data.labels, sample_weight=data.weights / sizes)
    coef = model.coef_[0] / std  # back to raw feature units: what the ONNX graph multiplies
    return coef, float(model.intercept_[0] - (model.coef_[0] * mean / std).sum())


def _unit_scale(scores: np.ndarray, sizes: Sequence[int]) -> float:
    """1 / the pooled within-group standard deviation of `scores` (1 when they do not vary)."""
    starts = np.cumsum([0, *sizes])
    centred = np.concatenate([scores[a:b] - scores[a:b].mean() for a, b in itertools.pairwise(starts)])
    std = float(np.sqrt(np.mean(centred**2))) if len(centred) else 0.0
    return 1.0 / std if std > 1e-12 else 1.0
