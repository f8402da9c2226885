"""The combiner's part of a train job, in two steps around the cross-encoder's training.

1. `prepare`, before the cross-encoder trains: the query groups (`groups.build_groups`, fusion
   candidates from the search service) and the held-out queries (`holdout`), whose triplets the
   cross-encoder must not see. Raises `Skipped` (with the reason, for the job log and the
   manifest) when there are too few groups to learn from: the artifact is then the cross-encoder
   alone, served through the fused-rank blend.
2. `fit_combiner`, after the cross-encoder is exported: its int8 logits on the held-out groups,
   the choice of source weights, ranker and weights (`select.choose`), the ranker refitted on
   every group at the chosen source weights,
   and `combiner.onnx` + `combiner.json` written into the artifact directory (before its manifest
   is written, so the manifest hashes them). Returns the manifest's "combiner" section.

The train job and bench/learning.py both run these two, so the bench measures what the job ships.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from services.trainer.combiner.export import combiner_graph, importances, parity, write_combiner
from services.trainer.combiner.groups import CandidateSearch, Group, GroupStats, build_groups
from services.trainer.combiner.holdout import cross_encoder_triplets, holdout_keys
from services.trainer.combiner.models import KINDS, LAMBDAMART, LOGISTIC_C, fit
from services.trainer.combiner.select import Choice, choose, judged_with_cross_encoder, with_logits
from shared.schemas import Triplet

Progress = Callable[[float, str], None]
Setting = Literal["auto", "lambdamart", "logistic", "ensemble", "none"]
MIN_GROUPS = 8  # groups with a positive among their candidates; fewer: no combiner


class Skipped(Exception):
    """No combiner is trained; the message says why."""


@dataclass(frozen=True)
class Prepared:
    groups: list[Group]
    stats: GroupStats
    held: frozenset[str]  # normalised queries kept out of the cross-encoder's training
    top_n: int
    seconds: float

    def cross_encoder_triplets(self, triplets: Sequence[Triplet]) -> list[Triplet]:
        return cross_encoder_triplets(triplets, self.held)


def prepare(
    triplets: Sequence[Triplet],
    search: CandidateSearch,
    top_n: int,
    progress: Progress | None = None,
    min_groups: int = MIN_GROUPS,
) -> Prepared:
    """The groups and the held-out queries; raises Skipped. `search` errors propagate."""
    began = time.perf_counter()
    report = progress or (lambda fraction, message: None)

    def fetched(done: int, total: int) -> None:
        if done % 25 == 0:
            report(done / max(total, 1), f"combiner: fusion candidates of query {done + 1}/{total}")

    groups, stats = build_groups(triplets, search, top_n, fetched)
    if len(groups) < min_groups:
        raise Skipped(
            f"only {len(groups)} query groups with a positive in the fusion top {top_n} "
            f"(< {min_groups}; {stats.queries} queries in the triplets)"
        )
    held = holdout_keys(groups)
    report(1.0, f"combiner: {len(groups)} groups {dict(stats.groups)}, {len(held)} queries held out")
    return Prepared(groups, stats, held, top_n, time.perf_counter() - began)


def fit_combiner(
    prepared: Prepared,
    out_dir: Path,
    *,
    ce_dir: Path | None,
    setting: Setting = "auto",
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Choose, refit and write the combiner into `out_dir`; returns the manifest's "combiner" section.

    ce_dir: the exported cross-encoder (int8 ONNX, as replicas serve it), or None to leave it out.
    """
    began = time.perf_counter()
    report = progress or (lambda fraction, message: None)
    logits = None
    if ce_dir is not None:
        scored = judged_with_cross_encoder(prepared.groups, prepared.held)
        chosen = [prepared.groups[i] for i in scored]

        def scoring(done: int) -> None:
            if done % 10 == 0:
                message = f"combiner: cross-encoder logits of held-out query {done + 1}/{len(scored)}"
                report(0.5 * done / max(len(scored), 1), message)

        logits = dict(zip(scored, holdout_logits(ce_dir, chosen, scoring), strict=True))
    report(0.5, f"combiner: choosing over {len(prepared.groups)} groups ({len(prepared.held)} held out)")
    kinds = KINDS if setting == "auto" else (setting,)
    choice = choose(prepared.groups, prepared.held, logits, kinds, seed)
    ranker = fit(choice.kind, prepared.groups, seed, choice.source_weights)
    model = combiner_graph(ranker, choice)
    ce_rows = []
    if choice.ce_weight > 0 and logits is not None:
        ce_rows = with_logits([prepared.groups[i] for i in logits], list(logits.values()))
    rows = [g.rows for g in prepared.groups]
    checked = parity(model, ranker, choice, np.concatenate([*rows, *ce_rows]))
    shares = importances(ranker, choice, rows, ce_rows)
    seconds = time.perf_counter() - began + prepared.seconds
    training = {
        "groups": dict(prepared.stats.groups),
        "dropped": dict(prepared.stats.dropped),
        "cv": choice.figures["cv"],
        "holdout": choice.figures["holdout"],
        "prior": choice.prior,
        "ce_weight": choice.ce_weight,
        "source_weights": choice.source_weights,
        "scale": ranker.scale,
        "params": _params(ranker.kind),
        "parity": checked,
        "train_seconds": round(seconds, 2),
    }
    write_combiner(
        out_dir, model, ranker, choice, top_n=prepared.top_n, importances=shares, training=training
    )
    report(1.0, _summary(choice))
    return {
        "kind": ranker.kind,
        "uses_cross_encoder": choice.ce_weight > 0,
        "ce_weight": choice.ce_weight,
        "prior": choice.prior,
        "source_weights": choice.source_weights,
        "importances": shares,
        "holdout": choice.figures["holdout"],
        "cv": choice.figures["cv"],
        "groups": dict(prepared.stats.groups),
        "train_seconds": round(seconds, 2),
    }


def holdout_logits(
    ce_dir: Path, groups: Sequence[Group], progress: Callable[[int], None] | None = None
) -> list[np.ndarray]:
    """The int8 cross-encoder's logits of each group's candidates, one pair per run as replicas score."""
    from shared.scoring import CrossEncoderScorer

    scorer = CrossEncoderScorer(ce_dir, quantized=True, batch_size=1)
    logits = []
    for done, group in enumerate(groups):
        if progress is not None:
            progress(done)
        logits.append(scorer.score(group.query, [c.text for c in group.candidates]))
    return logits


def _params(kind: str) -> dict[str, Any]:
    logistic = {"C": LOGISTIC_C, "balanced": True}
    if kind == "ensemble":
        return {"lambdamart": LAMBDAMART, "logistic": logistic, "mean": "of the unit-scaled scores"}
    return LAMBDAMART if kind == "lambdamart" else logistic


def _summary(choice: Choice) -> str:
    cv, h = choice.figures["cv"], choice.figures["holdout"]
    ce = f", cross-encoder weight {choice.ce_weight:.3g}" if choice.ce_weight > 0 else ", no cross-encoder"
    return (
        f"combiner: {choice.kind}, fusion prior {choice.prior:g}{ce}; MRR@10 cross-validated "
        f"{cv['mrr_chosen']} (fusion {cv['mrr_fusion']}), held out {h['mrr_chosen']} "
        f"(fusion {h['mrr_fusion']})"
    )
