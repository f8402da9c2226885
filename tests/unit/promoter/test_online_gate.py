"""The "online" gate: more wins than losses in the newest experiment, with p < 0.05."""

from __future__ import annotations

import pytest

from services.promoter.gates import GateReport
from services.promoter.online import online_failure, with_online
from shared.experiments import Experiment, tally

EXPERIMENT = Experiment("e1", "v1", "ab" * 32, 0.0)


def record(wins: int, losses: int, ties: int = 0):
    return tally(EXPERIMENT, ["win"] * wins + ["loss"] * losses + ["tie"] * ties, running=True)


@pytest.mark.parametrize(
    "wins,losses,ties,why",
    [
        (6, 4, 30, "not yet significant"),  # ahead, but p = 0.75
        (5, 5, 0, "more wins than losses"),
        (2, 20, 0, "more wins than losses"),  # significant, for production
    ],
)
def test_the_gate_fails_until_the_candidate_wins_significantly(wins, losses, ties, why):
    assert why in (online_failure("v1", record(wins, losses, ties)) or "")


def test_a_significant_win_passes_and_the_report_gains_the_gate():
    assert online_failure("v1", record(20, 5)) is None
    before = GateReport({"mrr": True}, [])
    assert with_online(before, "v1", record(20, 5)) == GateReport({"mrr": True, "online": True}, [])
    refused = with_online(before, "v1", None)
    assert refused.gates == {"mrr": True, "online": False} and not refused.passed
    assert refused.reasons[0].startswith("online: v1 was never in an online experiment")
