"""The promotion gate: each check failing alone, margins and tolerances at their bounds, force."""

from __future__ import annotations

import msgspec
import pytest

from services.promoter.gates import GATES, OUTDATED, GatePolicy, check_gates
from tests.unit.promoter.evaluations import evaluation

V = "cross-encoder-codesift-20260101-000000"
PROD = "cross-encoder-codesift-20251201-000000"
POLICY = GatePolicy(min_triplets=30, mrr_margin=0.0, hit5_tolerance=0.02)


def failed(report) -> list[str]:
    return [gate for gate, passed in report.gates.items() if not passed]


def test_first_promotion_compares_with_no_reranker_and_passes():
    report = check_gates(V, evaluation(), None, POLICY)
    assert report.gates == dict.fromkeys(GATES, True)
    assert report.reasons == []
    assert report.passed and report.allows(force=False)


def test_better_than_production_passes():
    e = evaluation(mrr=0.70, hit5=0.85, production=(0.65, 0.85), production_version=PROD)
    assert check_gates(V, e, PROD, POLICY).passed


def test_too_few_triplets_fails_that_gate_alone():
    report = check_gates(V, evaluation(triplets=29), None, POLICY)
    assert failed(report) == ["triplets"]
    assert report.reasons == ["triplets: trained on 29 triplets, fewer than the 30 required"]
    assert check_gates(V, evaluation(triplets=30), None, POLICY).passed


def test_min_triplets_can_be_lowered_per_promotion():
    assert check_gates(V, evaluation(triplets=5), None, GatePolicy(min_triplets=0)).passed


def test_no_evaluation_fails_every_gate_with_one_reason():
    report = check_gates(V, None, None, POLICY)
    assert report.gates == dict.fromkeys(GATES, False)
    assert report.reasons == [
        f"evaluated: no evaluation of it was found; run `codesift eval --model {V}` "
        "(the other gates need its figures)"
    ]


def test_an_evaluation_of_no_questions_counts_as_none():
    report = check_gates(V, evaluation(questions=0), None, POLICY)
    assert report.gates == dict.fromkeys(GATES, False)
    assert report.reasons[0].startswith("evaluated: its evaluation scored no questions")


def test_worse_mrr_than_production_fails_that_gate_alone():
    e = evaluation(mrr=0.60, production=(0.62, 0.80), production_version=PROD)
    report = check_gates(V, e, PROD, POLICY)
    assert failed(report) == ["mrr"]
    assert report.reasons == [f"mrr: MRR@10 0.600 is below 0.620 (production {PROD}'s 0.620 + margin 0.000)"]


def test_equal_mrr_passes_with_no_margin():
    e = evaluation(mrr=0.62, production=(0.62, 0.80), production_version=PROD)
    assert check_gates(V, e, PROD, POLICY).gates["mrr"]


@pytest.mark.parametrize(("margin", "passes"), [(0.01, True), (0.02, True), (0.03, False)])
def test_mrr_margin_is_added_to_the_production_figure(margin: float, passes: bool):
    e = evaluation(mrr=0.60, production=(0.58, 0.80), production_version=PROD)
    report = check_gates(V, e, PROD, GatePolicy(mrr_margin=margin))
    assert report.gates["mrr"] is passes
    assert failed(report) == ([] if passes else ["mrr"])


def test_without_production_the_mrr_reference_is_no_reranker_plus_margin():
    report = check_gates(V, evaluation(mrr=0.52, none=(0.50, 0.80)), None, GatePolicy(mrr_margin=0.05))
    assert failed(report) == ["mrr"]
    assert report.reasons == ["mrr: MRR@10 0.520 is below 0.550 (no reranker's 0.500 + margin 0.050)"]


@pytest.mark.parametrize("low", [0.0, -0.03])
def test_an_interval_against_no_reranker_reaching_zero_fails_that_gate_alone(low: float):
    report = check_gates(V, evaluation(low=low), None, POLICY)
    assert failed(report) == ["interval"]
    assert report.reasons[0].startswith(
        f"interval: the 95% interval of the MRR@10 gain over no reranker is [{low:+.3f}"
    )
    assert report.reasons[0].endswith("its lower bound must be above 0")


def test_an_evaluation_without_an_interval_against_no_reranker_fails():
    e = msgspec.structs.replace(evaluation(), intervals={})
    report = check_gates(V, e, None, POLICY)
    assert failed(report) == ["interval"]
    assert report.reasons == ["interval: the evaluation has no interval against no reranker"]


@pytest.mark.parametrize(("hit5", "passes"), [(0.78, True), (0.779, False), (0.70, False)])
def test_hit5_may_drop_by_the_tolerance_only(hit5: float, passes: bool):
    e = evaluation(mrr=0.70, hit5=hit5, production=(0.65, 0.80), production_version=PROD)
    report = check_gates(V, e, PROD, POLICY)
    assert failed(report) == ([] if passes else ["hit5"])
    if not passes:
        assert report.reasons == [
            f"hit5: Hit@5 {hit5:.3f} is more than 0.020 below production {PROD}'s 0.800"
        ]


def test_without_production_hit5_is_compared_with_no_reranker():
    report = check_gates(V, evaluation(hit5=0.85, none=(0.50, 0.90)), None, POLICY)
    assert failed(report) == ["hit5"]
    assert report.reasons == ["hit5: Hit@5 0.850 is more than 0.020 below no reranker's 0.900"]


def test_an_evaluation_against_another_production_model_is_stale():
    e = evaluation(mrr=0.90, production=(0.50, 0.50), production_version="cross-encoder-codesift-old")
    report = check_gates(V, e, PROD, POLICY)
    assert failed(report) == ["mrr", "hit5"]
    stale = f"evaluated against cross-encoder-codesift-old, but {PROD} is in production now; evaluate again"
    assert report.reasons == [f"mrr: {stale}", f"hit5: {stale}"]


def test_an_evaluation_made_without_production_is_stale_once_there_is_one():
    report = check_gates(V, evaluation(mrr=0.90), PROD, POLICY)
    assert failed(report) == ["mrr", "hit5"]
    assert "evaluated against no reranker" in report.reasons[0]


def test_an_evaluation_older_than_the_last_production_change_is_outdated():
    e = evaluation(mrr=0.90, production=(0.50, 0.50), production_version=PROD)
    report = check_gates(V, e, PROD, POLICY, outdated=True)
    assert failed(report) == ["mrr", "hit5"]
    assert report.reasons == [f"mrr: {OUTDATED}", f"hit5: {OUTDATED}"]


def test_every_failed_gate_is_reported_in_gate_order():
    report = check_gates(V, evaluation(mrr=0.40, hit5=0.50, low=-0.1, triplets=3), None, POLICY)
    assert failed(report) == ["triplets", "mrr", "interval", "hit5"]
    assert [reason.split(":")[0] for reason in report.reasons] == ["triplets", "mrr", "interval", "hit5"]


def test_force_skips_failed_gates_but_keeps_them_on_record():
    report = check_gates(V, None, None, POLICY)
    assert not report.allows(force=False)
    assert report.allows(force=True)
    assert report.gates == dict.fromkeys(GATES, False)
