"""The promoter's Prometheus metrics: every decision, and each gate's verdict in it.

A decision is counted once it is appended to the audit stream (`codesift.model.decision`), by
action (promote, rollback), outcome (promoted, refused) and whether it was forced. Each gate of a
promotion decision (triplets, evaluated, mrr, interval, hit5, artifact) counts passed or failed,
forced or not, so a dashboard shows which gate refuses models.
"""

from __future__ import annotations

from prometheus_client import Counter

from shared.schemas import PromotionDecision

DECISIONS = Counter(
    "codesift_promotion_decisions_total",
    "Promotion and rollback decisions, by action, outcome (promoted, refused) and forced",
    ["action", "outcome", "forced"],
)
GATES = Counter(
    "codesift_promotion_gate_checks_total",
    "Gate verdicts in promotion decisions, by gate and result (passed, failed)",
    ["gate", "result"],
)


def count_decision(decision: PromotionDecision) -> None:
    outcome = "promoted" if decision.promoted else "refused"
    DECISIONS.labels(decision.action, outcome, str(decision.forced).lower()).inc()
    for gate, passed in decision.gates.items():
        GATES.labels(gate, "passed" if passed else "failed").inc()
