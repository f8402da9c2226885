"""The "events" gate: a candidate trained on fewer feedback events than production must beat it."""

from __future__ import annotations

import msgspec
import pytest

from services.promoter.gates import GatePolicy, check_gates
from tests.unit.promoter.evaluations import evaluation

V = "cross-encoder-codesift-20260101-000000"
PROD = "cross-encoder-codesift-20251201-000000"
POLICY = GatePolicy(min_triplets=30)


def against_production(mrr: float = 0.62, gain_low: float = -0.1):
    """Better than production on MRR and Hit@5; `gain_low`: its interval's lower bound vs production."""
    e = evaluation(mrr=mrr, hit5=0.85, production=(0.60, 0.80), production_version=PROD)
    gain = msgspec.structs.replace(e.intervals["production"], low=gain_low)
    return msgspec.structs.replace(e, intervals={**e.intervals, "production": gain})


def failed(report) -> list[str]:
    return [gate for gate, passed in report.gates.items() if not passed]


@pytest.mark.parametrize(("candidate", "production"), [(10, 10), (11, 10), (0, 0)])
def test_as_many_feedback_events_as_production_or_more_passes(candidate: int, production: int):
    assert check_gates(V, against_production(), PROD, POLICY, events=(candidate, production)).passed


def test_fewer_events_and_not_significantly_better_is_refused_by_that_gate_alone():
    report = check_gates(V, against_production(gain_low=0.0), PROD, POLICY, events=(4, 10))
    assert failed(report) == ["events"]
    assert report.reasons == [
        "events: trained on 4 feedback events, fewer than production's 10, and the 95% interval of its "
        "MRR@10 gain over production is [+0.000, +0.100]; its lower bound must be above 0 to replace a "
        "model that saw more"
    ]
    assert not report.allows(force=False) and report.allows(force=True)


def test_fewer_events_but_a_gain_over_production_above_zero_passes():
    assert check_gates(V, against_production(gain_low=0.01), PROD, POLICY, events=(4, 10)).passed


def test_without_production_the_event_count_does_not_matter():
    assert check_gates(V, evaluation(), None, POLICY, events=(0, 10)).passed


def test_fewer_events_with_a_stale_comparison_fails_that_gate_too():
    stale = evaluation(mrr=0.7, production=(0.6, 0.8), production_version="cross-encoder-codesift-other")
    report = check_gates(V, stale, PROD, POLICY, events=(4, 10))
    assert failed(report) == ["mrr", "hit5", "events"]
    assert report.reasons[-1].startswith(
        "events: trained on 4 feedback events, fewer than production's 10, and "
    )


def test_fewer_events_without_an_interval_against_production_fails():
    e = against_production(gain_low=0.5)
    e = msgspec.structs.replace(e, intervals={"none": e.intervals["none"]})
    report = check_gates(V, e, PROD, POLICY, events=(4, 10))
    assert failed(report) == ["events"]
    assert "no interval against production" in report.reasons[0]
