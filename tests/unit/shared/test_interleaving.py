"""Team-draft interleaving, the per-search outcome and the sign test (shared/interleaving.py)."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.experiments import Experiment, tally
from shared.interleaving import CANDIDATE, PRODUCTION, outcome, sign_test, team_draft

rankings = st.lists(st.integers(0, 30), unique=True, max_size=20)


@settings(max_examples=300, deadline=None)
@given(rankings, rankings, st.integers(1, 25), st.integers(0, 2**32))
def test_every_shown_result_belongs_to_exactly_one_team_and_comes_from_its_ranking(a, b, k, seed):
    shown = team_draft(a, b, k, random.Random(seed))
    docs = [doc for doc, _ in shown]
    assert len(docs) == len(set(docs))  # shown once, so credited to one team only
    assert len(docs) == min(k, len(set(a) | set(b)))  # stops at k or when both rankings are used up
    for doc, side in shown:
        assert doc in (a if side == PRODUCTION else b)


@settings(max_examples=300, deadline=None)
@given(rankings, rankings, st.integers(1, 25), st.integers(0, 2**32))
def test_each_pick_is_the_teams_highest_ranked_result_not_shown_yet(a, b, k, seed):
    shown = team_draft(a, b, k, random.Random(seed))
    for i, (doc, side) in enumerate(shown):
        before = {d for d, _ in shown[:i]}
        ranking = a if side == PRODUCTION else b
        assert doc == next(d for d in ranking if d not in before)
    # the teams stay within one pick of each other while both still have results to give
    for i in range(len(shown)):
        counts = [sum(1 for _, s in shown[: i + 1] if s == team) for team in (PRODUCTION, CANDIDATE)]
        rest = {d for d, _ in shown[: i + 1]}
        if any(d not in rest for d in a) and any(d not in rest for d in b):
            assert abs(counts[0] - counts[1]) <= 1


@settings(max_examples=200, deadline=None)
@given(rankings, rankings, st.integers(1, 24), st.integers(0, 2**32))
def test_a_shorter_list_is_a_prefix_of_a_longer_one_with_the_same_coins(a, b, k, seed):
    assert team_draft(a, b, k, random.Random(seed)) == team_draft(a, b, k + 1, random.Random(seed))[:k]


def test_the_coin_is_fair_who_picks_first_and_which_team_shows_the_top_result():
    ranking = list(range(10))
    firsts = [team_draft(ranking, ranking, 10, random.Random(seed))[0][1] for seed in range(4000)]
    candidate_first = firsts.count(CANDIDATE)
    assert sign_test(candidate_first, len(firsts) - candidate_first) > 0.01
    assert 0.46 < candidate_first / len(firsts) < 0.54
    # identical rankings: each team shows half of the list, whatever the coins
    shown = team_draft(ranking, ranking, 10, random.Random(7))
    assert [d for d, _ in shown] == ranking
    assert sum(1 for _, side in shown if side == CANDIDATE) == 5


def test_outcome_counts_the_clicks_of_each_team():
    assert outcome([]) is None
    assert outcome([CANDIDATE]) == "win"
    assert outcome([PRODUCTION, CANDIDATE, PRODUCTION]) == "loss"
    assert outcome([PRODUCTION, CANDIDATE]) == "tie"


def reference_sign_test(wins: int, losses: int) -> float:
    n = wins + losses
    if n == 0:
        return 1.0
    observed = abs(wins - n / 2)
    return min(1.0, sum(math.comb(n, i) for i in range(n + 1) if abs(i - n / 2) >= observed) / 2**n)


@pytest.mark.parametrize("wins,losses", [(0, 0), (1, 0), (9, 1), (1, 9), (5, 5), (30, 12), (60, 40), (7, 0)])
def test_sign_test_matches_the_exact_binomial_sum(wins, losses):
    assert sign_test(wins, losses) == pytest.approx(reference_sign_test(wins, losses), rel=1e-9)


def test_sign_test_known_values_and_scipy():
    assert sign_test(9, 1) == pytest.approx(22 / 1024)
    assert sign_test(5, 5) == 1.0
    scipy_stats = pytest.importorskip("scipy.stats")
    for wins, losses in [(530, 470), (1200, 1100), (3, 17)]:
        expected = scipy_stats.binomtest(wins, wins + losses, 0.5).pvalue
        assert sign_test(wins, losses) == pytest.approx(expected, rel=1e-6)


# ------------------------------------------------------------------ simulated users

DOCS = 40
RELEVANT = set(range(0, DOCS, 4))  # every fourth doc answers the query


def better_ranking(rng: random.Random) -> list[int]:
    """Relevant docs mostly near the top (a noisy sort by relevance)."""
    return sorted(range(DOCS), key=lambda d: (d not in RELEVANT) + rng.random() * 0.8)


def worse_ranking(rng: random.Random) -> list[int]:
    return sorted(range(DOCS), key=lambda d: rng.random())


def simulate(searches: int, clicker: str, seed: int, checkpoints: tuple[int, ...] = ()) -> list:
    """Interleave the better ranker (candidate) with the worse (production) for `searches` searches;
    users click relevant results (position-biased) or, `clicker="random"`, any result."""
    rng = random.Random(seed)
    experiment = Experiment("sim", "candidate-v1", "0" * 64, 0.0)
    results: list[str] = []
    tallies = []
    for i in range(1, searches + 1):
        shown = team_draft(worse_ranking(rng), better_ranking(rng), 10, rng)
        clicked = []
        for position, (doc, side) in enumerate(shown, 1):
            examined = rng.random() < 1 / position**0.5
            attractive = doc in RELEVANT if clicker == "relevant" else rng.random() < 0.25
            if examined and attractive and rng.random() < 0.8:
                clicked.append(side)
        if (result := outcome(clicked)) is not None:
            results.append(result)
        if i in checkpoints:
            tallies.append(tally(experiment, list(results), running=True))
    return tallies or [tally(experiment, results, running=True)]


def test_users_who_click_the_better_rankers_results_make_it_win_with_a_falling_p_value():
    checkpoints = (10, 40, 160, 640)
    tallies = simulate(640, "relevant", seed=1, checkpoints=checkpoints)
    p_values = [t.p_value for t in tallies]
    assert p_values == sorted(p_values, reverse=True) and p_values[0] > p_values[-1]
    assert tallies[-1].winner == CANDIDATE and tallies[-1].p_value < 1e-6
    assert tallies[-1].wins > 2 * tallies[-1].losses


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_users_who_click_at_random_make_no_winner(seed):
    (final,) = simulate(400, "random", seed=seed)
    assert final.wins + final.losses > 100  # plenty of decided searches, still no winner
    assert final.winner is None and final.p_value >= 0.05
