"""Team-draft interleaving (Radlinski, Kurup and Joachims 2008) and the sign test that judges it.

Two rankings of the same candidates are merged into one list: in each round a fair coin decides
which team picks first, then each team in turn adds its highest-ranked result not shown yet, until
`k` results are shown or both rankings are used up. Every shown result belongs to exactly one team.
A click credits the team of the result clicked; per search, the team with more credited clicks
wins (equal: a tie; no click: the search is not counted).

Over many searches, wins against losses (ties left out) are judged by an exact two-sided sign
test: under "neither ranker is better" each decided search is a fair coin.
"""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Iterable, Sequence
from typing import Literal, TypeVar

PRODUCTION = "production"
CANDIDATE = "candidate"
Side = Literal["production", "candidate"]
Outcome = Literal["win", "loss", "tie"]  # from the candidate's point of view
T = TypeVar("T", bound=Hashable)


def team_draft(
    production: Sequence[T], candidate: Sequence[T], k: int, rng: random.Random
) -> list[tuple[T, Side]]:
    """The interleaved list (at most `k` items, each with the team that picked it)."""
    teams: dict[Side, Sequence[T]] = {PRODUCTION: production, CANDIDATE: candidate}
    cursors: dict[Side, int] = {PRODUCTION: 0, CANDIDATE: 0}
    shown: set[T] = set()
    out: list[tuple[T, Side]] = []
    while len(out) < k:
        first: Side = PRODUCTION if rng.random() < 0.5 else CANDIDATE
        picked = False
        for side in (first, CANDIDATE if first == PRODUCTION else PRODUCTION):
            if len(out) >= k:
                break
            ranking, i = teams[side], cursors[side]
            while i < len(ranking) and ranking[i] in shown:
                i += 1
            cursors[side] = i
            if i < len(ranking):
                shown.add(ranking[i])
                out.append((ranking[i], side))
                cursors[side] = i + 1
                picked = True
        if not picked:  # both rankings used up
            break
    return out


def outcome(clicked_sides: Iterable[str]) -> Outcome | None:
    """One search's outcome for the candidate from the teams of its clicked results (None: no click)."""
    candidate = production = 0
    for side in clicked_sides:
        if side == CANDIDATE:
            candidate += 1
        elif side == PRODUCTION:
            production += 1
    if candidate == production == 0:
        return None
    if candidate == production:
        return "tie"
    return "win" if candidate > production else "loss"


def sign_test(wins: int, losses: int) -> float:
    """Exact two-sided sign test p-value of `wins` against `losses` (ties excluded beforehand).

    p = P(|X - n/2| >= |wins - n/2|) for X ~ Binomial(n, 1/2), n = wins + losses; 1.0 when n = 0.
    """
    n = wins + losses
    if n == 0:
        return 1.0
    low = min(wins, losses)
    # log-space sum of the lower tail: exact enough for any n a tally reaches
    log_terms = [_log_choose(n, i) - n * math.log(2) for i in range(low + 1)]
    top = max(log_terms)
    tail = math.exp(top) * sum(math.exp(t - top) for t in log_terms)
    return min(1.0, 2 * tail)


def _log_choose(n: int, i: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
