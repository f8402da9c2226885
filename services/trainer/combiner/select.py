"""Choosing the combiner without tuning on what it is judged on: which ranker, how much fusion prior,
how much cross-encoder.

The served score of a candidate is

    score = ranker(row) + prior x (-fusion_rank_log) + ce_weight x ce_logit

`ranker` is LambdaMART, logistic or their mean (`models.fit`, unit-scaled); the prior pulls toward the fusion
order (a large prior reproduces it, so a ranker that does not help falls back to fusion);
`ce_weight` 0 means the cross-encoder is not used at all (replicas then skip scoring it).

1. Ranker and prior, by cross-validation over every group (`holdout.fold_of`: fold 0 is the
   held-out queries): each group is scored by the ranker fitted on the other folds, and every
   (kind, prior) of a small grid is judged on all of them. Ties go to the larger prior (closer
   to fusion), then to LambdaMART. The ensemble is kept unless another kind beats its best by
   more than `KIND_MARGIN`: it averages two rankers that err differently, and a choice made on
   a few thousandths of cross-validated MRR flips from run to run (on three repositories' eval
   questions the ensemble alone was never far below the best kind and once 0.11 above the
   kind the grid picked).
2. Cross-encoder weight, on held-out queries only, which the cross-encoder never trained on
   (a cross-encoder flatters the queries it trained on): with the ranker and prior of step 1 and
   the ranker fitted without those queries, each weight of a small grid is judged there. The
   cross-encoder costs most of a query's latency (~300 ms for 20 candidates on 2 cores against
   well under 1 ms for the rest), so it is used only when its best weight beats none clearly:
   by at least `CE_MARGIN` MRR@10 and by twice the gain's standard error over the held-out
   queries (a few thousandths on a few dozen queries is noise, and the best of four weights is
   an optimistic pick). The weight is judged on people's held-out queries (logs, golden) when
   there are any, as the source weights are: the code's own queries (documentation turned into
   queries) are near-paraphrases of their chunk, the very pairs the cross-encoder trains on, and
   flatter it; people's questions are what it is served for. Scoring candidates with the
   cross-encoder is slow on 2 cores (~30 pairs/s), so at most `CE_GROUPS` held-out groups of each
   family are scored (by the hash order, so the same ones every run).

0. Source weights, by the same cross-validation, scored on people's queries only (logs and
   golden: what the ranker is for): bootstrap groups (documentation turned into queries) weigh
   each of `BOOTSTRAP_WEIGHTS` relative to feedback 1 in fitting, and the weight whose best
   (kind, prior) scores highest on people's groups is kept (ties: the larger weight, closer to
   equal families). Steps 1 and 2 then run at that weight. Only when both families are present
   (otherwise a weight changes nothing).

Judged by MRR@10 over the judged candidates, averaged per family of queries (people's, the
code's) then across families, so each family counts the same whatever its size.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from services.trainer.combiner.groups import FAMILIES, POSITIVE, Group
from services.trainer.combiner.holdout import FOLDS, fold_of, holdout_fraction_of
from services.trainer.combiner.models import KINDS, Kind, Ranker, ensemble, fit
from shared.features import INDEX, feature_matrix

PRIORS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 100.0)  # x (-fusion_rank_log); 100: fusion order
CE_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0)  # x the cross-encoder logit in unit within-group std
CE_GROUPS = 50  # held-out groups per family scored by the cross-encoder
CE_MARGIN = 0.01  # held-out MRR@10 the cross-encoder must add to be used
KIND_MARGIN = 0.01  # cross-validated MRR@10 another kind must add over the ensemble to be chosen
STEADY: Kind = "ensemble"
BOOTSTRAP_WEIGHTS = (0.1, 0.3, 1.0)  # bootstrap groups' weight in fitting, feedback and golden 1
PEOPLE = "people"
CUTOFF = 10
FUSION_RANK = INDEX["fusion_rank_log"]
CE_LOGIT = INDEX["ce_logit"]


@dataclass(frozen=True)
class Choice:
    kind: Kind
    prior: float
    ce_weight: float  # multiplies the raw ce_logit column (0: the cross-encoder is not used)
    source_weights: dict[str, float] = field(default_factory=dict)  # source -> fitting weight
    figures: dict[str, dict[str, object]] = field(default_factory=dict)  # "cv" and "holdout"


def reciprocal_rank(scores: np.ndarray, labels: np.ndarray, cutoff: int = CUTOFF) -> float:
    """1 / rank of the first positive among the judged rows by score (ties: fusion order); 0 past cutoff."""
    judged = np.flatnonzero(labels >= 0)
    order = sorted(judged, key=lambda i: (-scores[i], i))
    for rank, i in enumerate(order[:cutoff], start=1):
        if labels[i] == POSITIVE:
            return 1.0 / rank
    return 0.0


def mean_weights(groups: Sequence[Group]) -> np.ndarray:
    """Per group, its weight in a mean over families of the means of their groups (sum 1)."""
    sizes = Counter(g.family for g in groups)
    return np.array([1.0 / (len(sizes) * sizes[g.family]) for g in groups])


def reciprocal_ranks(groups: Sequence[Group], scores: Sequence[np.ndarray]) -> np.ndarray:
    return np.array([reciprocal_rank(s, g.labels) for g, s in zip(groups, scores, strict=True)])


def family_mrr(groups: Sequence[Group], scores: Sequence[np.ndarray]) -> float:
    """Mean over families of the mean reciprocal rank of their groups."""
    return float(mean_weights(groups) @ reciprocal_ranks(groups, scores)) if groups else 0.0


def people_mrr(groups: Sequence[Group], people: Sequence[int], scores: Sequence[np.ndarray]) -> float:
    """MRR@10 of the groups at indices `people` (scores aligned to `people`); 0 when there are none."""
    return family_mrr([groups[i] for i in people], scores) if people else 0.0


def clear_gain(groups: Sequence[Group], better: np.ndarray, base: np.ndarray) -> bool:
    """Whether reciprocal ranks `better` beat `base` by CE_MARGIN and by twice the gain's standard error."""
    weights = mean_weights(groups)
    gains = better - base
    gain = float(weights @ gains)
    error = float(np.sqrt(np.sum(weights**2 * (gains - gain) ** 2)))
    return gain >= CE_MARGIN and gain >= 2 * error


def combined(ranker_scores: np.ndarray, rows: np.ndarray, prior: float, ce_weight: float) -> np.ndarray:
    return ranker_scores - prior * rows[:, FUSION_RANK] + ce_weight * rows[:, CE_LOGIT]


def with_logits(groups: Sequence[Group], logits: Sequence[np.ndarray] | None) -> list[np.ndarray]:
    """The groups' rows with their cross-encoder columns filled (unchanged when there are no logits)."""
    if logits is None:
        return [g.rows for g in groups]
    return [feature_matrix(g.query, g.candidates, lg) for g, lg in zip(groups, logits, strict=True)]


def ce_unit(rows: Sequence[np.ndarray]) -> float:
    """1 / the pooled within-group std of the cross-encoder logits (0 when they do not vary)."""
    centred = [r[:, CE_LOGIT] - r[:, CE_LOGIT].mean() for r in rows if len(r)]
    values = np.concatenate(centred).astype(np.float64) if centred else np.zeros(0)
    std = float(np.sqrt(np.mean(values**2))) if len(values) else 0.0
    return 1.0 / std if std > 1e-12 else 0.0


def out_of_fold(
    groups: Sequence[Group],
    held: frozenset[str],
    kinds: Sequence[Kind],
    seed: int,
    source_weights: Mapping[str, float] | None = None,
) -> dict[Kind, list[np.ndarray]]:
    """Per kind, each group's ranker scores from the ranker fitted on the other folds (the
    ensemble of a fold reuses that fold's LambdaMART and logistic rankers)."""
    folds = [fold_of(g.key, held) for g in groups]
    scores = {kind: [np.zeros(len(g.candidates)) for g in groups] for kind in kinds}
    for f in range(FOLDS):
        tested = [i for i, fold in enumerate(folds) if fold == f]
        trained = [g for g, fold in zip(groups, folds, strict=True) if fold != f]
        if not tested or not trained:
            continue
        fitted: dict[Kind, Ranker] = {}
        for kind in sorted(kinds, key=lambda k: k == "ensemble"):
            if kind == "ensemble":
                parts = tuple(
                    fitted.get(part) or fit(part, trained, seed, source_weights)
                    for part in ("lambdamart", "logistic")
                )
                fitted[kind] = ensemble(parts, trained, source_weights)  # type: ignore[arg-type]
            else:
                fitted[kind] = fit(kind, trained, seed, source_weights)
        for kind in kinds:
            for i in tested:
                scores[kind][i] = fitted[kind].predict(groups[i].rows)
    return scores


def bootstrap_weights(groups: Sequence[Group]) -> tuple[float, ...]:
    """The bootstrap weights to try: the grid when both families are present, else 1 alone."""
    families = {g.family for g in groups}
    return BOOTSTRAP_WEIGHTS if {PEOPLE, FAMILIES["bootstrap"]} <= families else (1.0,)


def source_weights_of(bootstrap: float) -> dict[str, float]:
    return {"logs": 1.0, "golden": 1.0, "bootstrap": bootstrap}


def judged_with_cross_encoder(groups: Sequence[Group], held: frozenset[str]) -> list[int]:
    """Indices of the held-out groups the cross-encoder weight is judged on (CE_GROUPS per family)."""
    by_family: dict[str, list[int]] = {}
    for i in sorted(
        (i for i, g in enumerate(groups) if g.key in held), key=lambda i: holdout_fraction_of(groups[i].key)
    ):
        by_family.setdefault(groups[i].family, []).append(i)
    return sorted(i for chosen in by_family.values() for i in chosen[:CE_GROUPS])


def choose(
    groups: Sequence[Group],
    held: frozenset[str],
    logits: Mapping[int, np.ndarray] | None,
    kinds: Sequence[Kind] = KINDS,
    seed: int = 0,
) -> Choice:
    """The ranker, prior and cross-encoder weight (see the module docstring).

    logits: the cross-encoder's logits of the candidates of held-out groups, by index in `groups`
    (`judged_with_cross_encoder`), or None to leave the cross-encoder out.
    """
    fusion = [-g.rows[:, FUSION_RANK] for g in groups]
    people = [i for i, g in enumerate(groups) if g.family == PEOPLE]
    cv: dict[str, object] = {
        "groups": len(groups),
        "folds": FOLDS,
        "mrr_fusion": _r(family_mrr(groups, fusion)),
    }
    if people:
        cv["mrr_fusion_people"] = _r(people_mrr(groups, people, [fusion[i] for i in people]))
    by_bootstrap: dict[float, tuple[float, dict[Kind, list[np.ndarray]]]] = {}
    for bootstrap in bootstrap_weights(groups):
        oof = out_of_fold(groups, held, kinds, seed, source_weights_of(bootstrap))
        best_people = max(
            (people_mrr(groups, people, [combined(oof[k][i], groups[i].rows, p, 0) for i in people])
             for k in kinds for p in PRIORS),
            default=0.0,
        )  # fmt: skip
        by_bootstrap[bootstrap] = (best_people, oof)
    bootstrap = min(by_bootstrap, key=lambda w: (-round(by_bootstrap[w][0], 9), -w))
    oof = by_bootstrap[bootstrap][1]
    if len(by_bootstrap) > 1:
        cv["mrr_people_by_bootstrap_weight"] = {str(w): _r(v) for w, (v, _) in by_bootstrap.items()}
    cv["source_weights"] = source_weights_of(bootstrap)
    scored: list[tuple[float, float, int, Kind]] = []
    for k, kind in enumerate(kinds):
        cv[f"mrr_{kind}"] = _r(family_mrr(groups, oof[kind]))
        for prior in PRIORS:
            mrr = family_mrr(
                groups, [combined(s, g.rows, prior, 0) for s, g in zip(oof[kind], groups, strict=True)]
            )
            scored.append((round(mrr, 9), prior, k, kind))
    best_mrr, prior, kind = pick(scored)
    cv |= {"mrr_chosen": _r(best_mrr), "kind": kind, "prior": prior}
    if people:
        chosen_people = [combined(oof[kind][i], groups[i].rows, prior, 0) for i in people]
        cv["mrr_chosen_people"] = _r(people_mrr(groups, people, chosen_people))

    chosen = sorted(logits) if logits is not None else [i for i, g in enumerate(groups) if g.key in held]
    holdout = [groups[i] for i in chosen]
    rows = with_logits(holdout, [logits[i] for i in chosen] if logits is not None else None)
    unit = ce_unit(rows) if logits is not None else 0.0
    base = [oof[kind][i] for i in chosen]
    ranks = {
        w: reciprocal_ranks(
            holdout, [combined(b, r, prior, w * unit) for b, r in zip(base, rows, strict=True)]
        )
        for w in (CE_WEIGHTS if unit > 0 else (0.0,))
    }
    # judged on people's held-out queries when there are any (see the module docstring)
    judged = [j for j, g in enumerate(holdout) if g.family == PEOPLE] or list(range(len(holdout)))
    on = [holdout[j] for j in judged]
    by_weight = {w: float(mean_weights(on) @ rr[judged]) if on else 0.0 for w, rr in ranks.items()}
    best = min(by_weight, key=lambda w: (-round(by_weight[w], 9), w))
    weight = best if best > 0 and clear_gain(on, ranks[best][judged], ranks[0.0][judged]) else 0.0
    rows, base = [rows[j] for j in judged], [base[j] for j in judged]
    figures: dict[str, object] = {
        "groups": len(on),
        "people": bool(on) and on[0].family == PEOPLE,  # judged on people's held-out groups only
        "mrr_fusion": _r(family_mrr(on, [-r[:, FUSION_RANK] for r in rows])),
        "mrr_ranker": _r(family_mrr(on, base)),
        "mrr_combiner": _r(by_weight[0.0]),
    }
    if unit > 0:
        figures["mrr_cross_encoder"] = _r(family_mrr(on, [r[:, CE_LOGIT] for r in rows]))
        figures["mrr_combiner_ce"] = _r(max(v for w, v in by_weight.items() if w > 0))
        figures["mrr_by_ce_weight"] = {str(w): _r(v) for w, v in by_weight.items()}
    figures["mrr_chosen"] = _r(by_weight[weight])
    figures["ce_weight_units"] = weight
    return Choice(
        kind=kind,
        prior=prior,
        ce_weight=weight * unit,
        source_weights=source_weights_of(bootstrap),
        figures={"cv": cv, "holdout": figures},
    )


def pick(scored: Sequence[tuple[float, float, int, Kind]]) -> tuple[float, float, Kind]:
    """(MRR, prior, kind) from cross-validated (MRR, prior, kind's position, kind): the best, ties to
    the larger prior then the earlier kind, except that the ensemble's best is kept unless the best
    beats it by more than KIND_MARGIN."""
    best = min(scored, key=lambda s: (-s[0], -s[1], s[2]))
    steady = [s for s in scored if s[3] == STEADY]
    if best[3] != STEADY and steady:
        steady_best = min(steady, key=lambda s: (-s[0], -s[1]))
        if steady_best[0] >= best[0] - KIND_MARGIN:
            best = steady_best
    return best[0], best[1], best[3]


def final_scores(ranker: Ranker, choice: Choice, rows: np.ndarray) -> np.ndarray:
    """What the exported graph computes, natively (float64)."""
    return combined(ranker.predict(rows), np.asarray(rows, dtype=np.float64), choice.prior, choice.ce_weight)


def _r(value: float) -> float:
    return round(value, 4)
