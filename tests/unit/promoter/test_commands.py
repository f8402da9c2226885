"""The job message of a promote or rollback: what changed, or every reason it did not."""

from __future__ import annotations

from services.promoter.commands import summary
from shared.schemas import PromotionDecision

V = "cross-encoder-codesift-20260101-000000"
PASSED = {"triplets": True, "evaluated": True, "mrr": True, "interval": True, "hit5": True, "artifact": True}


def decision(**fields) -> PromotionDecision:
    base = dict(
        timestamp=1.0, version=V, action="promote", promoted=True, forced=False, gates=PASSED, reasons=[]
    )
    return PromotionDecision(**(base | fields))


def test_a_promotion_says_what_it_promoted():
    assert summary(decision()) == f"promoted {V}"


def test_a_forced_promotion_names_the_gates_it_skipped():
    gates = PASSED | {"mrr": False, "interval": False}
    assert summary(decision(forced=True, gates=gates)) == f"promoted {V} (forced past: mrr, interval)"


def test_a_refusal_lists_every_reason():
    reasons = ["triplets: trained on 3 triplets, fewer than the 30 required", "interval: ..."]
    text = summary(decision(promoted=False, gates=PASSED | {"triplets": False}, reasons=reasons))
    assert text == f"{V} not promoted: {reasons[0]}; {reasons[1]}"


def test_a_rollback_says_from_what_to_what():
    reasons = [f"rolled back from {V} to no reranker"]
    assert summary(decision(action="rollback", version=None, gates={}, reasons=reasons)) == reasons[0]
