"""The "online" gate (CODESIFT_PROMOTE_REQUIRE_ONLINE): the candidate won its online experiment.

It passes only when the newest experiment that interleaved the candidate with production
(shared/experiments.py) has more wins than losses with a sign-test p-value below 0.05. It is
added to the other gates' report; a forced promotion skips it like the others.
"""

from __future__ import annotations

from services.promoter.gates import GateReport
from shared.experiments import SIGNIFICANCE, Tally

ONLINE = "online"


def online_failure(version: str, tally: Tally | None) -> str | None:
    """Why `version` has not won online (None: it has)."""
    if tally is None:
        return (
            f"{version} was never in an online experiment: run `codesift experiment start {version}` "
            "and let searches accumulate clicks"
        )
    record = f"{tally.wins} wins, {tally.losses} losses, {tally.ties} ties, p = {tally.p_value:.3g}"
    if tally.wins <= tally.losses:
        return f"experiment {tally.experiment_id}: {record}; it needs more wins than losses"
    if tally.p_value >= SIGNIFICANCE:
        return f"experiment {tally.experiment_id}: {record}; not yet significant (p < {SIGNIFICANCE})"
    return None


def with_online(report: GateReport, version: str, tally: Tally | None) -> GateReport:
    failure = online_failure(version, tally)
    return GateReport(
        {**report.gates, ONLINE: failure is None},
        [*report.reasons, *([f"{ONLINE}: {failure}"] if failure else [])],
    )
