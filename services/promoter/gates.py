"""The promotion gate: five checks on a candidate's evaluation, each failure explained in words.

- triplets: the candidate was trained on at least `min_triplets` triplets.
- evaluated: an evaluation of the candidate exists and scored at least one question.
- mrr: its MRR@10 is at least the served ranking's plus `mrr_margin`. The served ranking is the
  production model (`baselines["production"]`) when there is one, else no reranker
  (`baselines["none"]`). An evaluation made against another production model than the current one,
  or before production last changed, fails: its comparison says nothing about what is served now.
- interval: the lower bound of the paired 95% interval of the MRR@10 gain over no reranker is
  above zero (`intervals["none"].low > 0`).
- hit5: its Hit@5 is not below the served ranking's by more than `hit5_tolerance`.
- events: it was trained on at least as many feedback events as the production model, or it beats
  production significantly: the lower bound of the paired 95% interval of its MRR@10 gain over
  production (`intervals["production"].low`) is above zero. No production model: passes.

The gate decides nothing about the artifact itself (present, checksum): the promoter checks that
separately, and `force` never skips it.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.schemas import EvalMetrics, ModelEvaluated

GATES = ("triplets", "evaluated", "mrr", "interval", "hit5", "events")
EPSILON = 1e-9  # metrics computed from the same questions may differ by rounding only
OUTDATED = "production changed (a promotion or a rollback) after this evaluation; evaluate again"


@dataclass(frozen=True)
class GatePolicy:
    min_triplets: int = 30
    mrr_margin: float = 0.0
    hit5_tolerance: float = 0.02


@dataclass(frozen=True)
class GateReport:
    gates: dict[str, bool]  # gate name -> passed
    reasons: list[str]  # one line per failed gate

    @property
    def passed(self) -> bool:
        return all(self.gates.values())

    def allows(self, force: bool) -> bool:
        """A forced (manual) promotion skips the gates; the report still records what it skipped."""
        return force or self.passed


def check_gates(
    version: str,
    evaluation: ModelEvaluated | None,
    production: str | None,
    policy: GatePolicy,
    *,
    outdated: bool = False,
    events: tuple[int, int] = (0, 0),
) -> GateReport:
    """Check `version`'s evaluation against the model in production now (None: no reranker).

    outdated: production changed (a promotion or a rollback) after the evaluation was made, so its
    comparison with what is served is not current even when it names the same production version.
    events: the feedback events the candidate's and production's training saw (ModelTrained).
    """
    if evaluation is None or evaluation.total_questions < 1:
        why = "no evaluation of it was found" if evaluation is None else "its evaluation scored no questions"
        return GateReport(
            {gate: False for gate in GATES},
            [f"evaluated: {why}; run `codesift eval --model {version}` (the other gates need its figures)"],
        )
    failures: dict[str, str | None] = {"evaluated": None}  # gate -> why it failed (None: passed)
    if evaluation.triplets < policy.min_triplets:
        failures["triplets"] = (
            f"trained on {evaluation.triplets} triplets, fewer than the {policy.min_triplets} required"
        )
    served, name, unknown = _served(evaluation, production, outdated)
    if served is None:
        failures["mrr"] = failures["hit5"] = unknown
    else:
        failures["mrr"] = _mrr_failure(evaluation.metrics, served, name, policy.mrr_margin)
        failures["hit5"] = _hit5_failure(evaluation.metrics, served, name, policy.hit5_tolerance)
    failures["interval"] = _interval_failure(evaluation)
    if production is not None:
        failures["events"] = _events_failure(evaluation, events, unknown if served is None else "")
    return GateReport(
        {gate: failures.get(gate) is None for gate in GATES},
        [f"{gate}: {failures[gate]}" for gate in GATES if failures.get(gate)],
    )


def _served(
    evaluation: ModelEvaluated, production: str | None, outdated: bool
) -> tuple[EvalMetrics | None, str, str]:
    """The evaluation's figures for what is served now and its name, or None and why they are missing."""
    if outdated:
        return None, "", OUTDATED
    if production is None:
        if "none" not in evaluation.baselines:
            return None, "", "the evaluation has no figures for no reranker"
        return evaluation.baselines["none"], "no reranker", ""
    baseline = evaluation.baselines.get("production")
    if evaluation.production_version != production or baseline is None:
        against = evaluation.production_version or "no reranker"
        return None, "", f"evaluated against {against}, but {production} is in production now; evaluate again"
    return baseline, f"production {production}", ""


def _mrr_failure(candidate: EvalMetrics, served: EvalMetrics, name: str, margin: float) -> str | None:
    needed = served.mrr + margin
    if candidate.mrr >= needed - EPSILON:
        return None
    return (
        f"MRR@10 {candidate.mrr:.3f} is below {needed:.3f} ({name}'s {served.mrr:.3f} + margin {margin:.3f})"
    )


def _hit5_failure(candidate: EvalMetrics, served: EvalMetrics, name: str, tolerance: float) -> str | None:
    if candidate.hit_at_5 >= served.hit_at_5 - tolerance - EPSILON:
        return None
    return f"Hit@5 {candidate.hit_at_5:.3f} is more than {tolerance:.3f} below {name}'s {served.hit_at_5:.3f}"


def _interval_failure(evaluation: ModelEvaluated) -> str | None:
    gain = evaluation.intervals.get("none")
    if gain is None:
        return "the evaluation has no interval against no reranker"
    if gain.low > 0:
        return None
    return (
        f"the 95% interval of the MRR@10 gain over no reranker is [{gain.low:+.3f}, {gain.high:+.3f}]; "
        "its lower bound must be above 0"
    )


def _events_failure(evaluation: ModelEvaluated, events: tuple[int, int], stale: str) -> str | None:
    """Fewer feedback events than production passes only with a significant gain over production."""
    candidate, production = events
    if candidate >= production:
        return None
    fewer = f"trained on {candidate} feedback events, fewer than production's {production}"
    gain = evaluation.intervals.get("production")
    if stale:
        return f"{fewer}, and its comparison with production is not current ({stale})"
    if gain is None:
        return f"{fewer}, and the evaluation has no interval against production"
    if gain.low > 0:
        return None
    return (
        f"{fewer}, and the 95% interval of its MRR@10 gain over production is "
        f"[{gain.low:+.3f}, {gain.high:+.3f}]; "
        "its lower bound must be above 0 to replace a model that saw more"
    )
