"""Ranking metrics: hand-computed cases, and parity with ir-measures on randomised runs."""

from __future__ import annotations

import math
import random

import ir_measures
import numpy as np
import pytest
from ir_measures import RR, Success, nDCG

from shared.metrics import (
    METRIC_NAMES,
    evaluate,
    first_relevant_rank,
    hit_at,
    is_relevant,
    ndcg_at,
    paired_bootstrap_ci,
    reciprocal_rank,
)
from shared.schemas import EvalMetrics

T, F = True, False


# ---------------------------------------------------------------- relevance


def test_relevant_when_path_contains_any_expected_substring() -> None:
    assert is_relevant("src/auth/oauth.py", ["oauth.py"])
    assert is_relevant("src/auth/oauth.py", ["nope", "auth/"])
    assert not is_relevant("src/auth/oauth.py", ["OAuth.py"])  # case matters
    assert not is_relevant("src/auth/oauth.py", [])


def test_empty_expected_substring_matches_nothing() -> None:
    assert not is_relevant("src/auth/oauth.py", [""])


def test_first_relevant_rank_is_one_based_and_cut_at_k() -> None:
    paths = ["a.py", "b.py", "auth.py", "auth.py"]
    assert first_relevant_rank(paths, ["auth"]) == 3
    assert first_relevant_rank(paths, ["auth"], k=2) is None
    assert first_relevant_rank([], ["auth"]) is None
    assert first_relevant_rank(["x.py"] * 10 + ["auth.py"], ["auth"]) is None  # rank 11


# ---------------------------------------------------------------- metrics, by hand


def test_reciprocal_rank() -> None:
    assert reciprocal_rank([T]) == 1.0
    assert reciprocal_rank([F, F, T, T]) == pytest.approx(1 / 3)
    assert reciprocal_rank([]) == 0.0
    assert reciprocal_rank([F] * 5) == 0.0
    assert reciprocal_rank([F] * 9 + [T]) == pytest.approx(0.1)
    assert reciprocal_rank([F] * 10 + [T]) == 0.0  # rank 11 is outside MRR@10


def test_hit_at() -> None:
    ranking = [F, F, T]
    assert [hit_at(ranking, k) for k in (1, 2, 3, 5)] == [0.0, 0.0, 1.0, 1.0]
    assert hit_at([], 10) == 0.0
    assert hit_at([F] * 10 + [T], 10) == 0.0


def test_ndcg_by_hand() -> None:
    assert ndcg_at([T, T, F]) == pytest.approx(1.0)
    assert ndcg_at([F, T]) == pytest.approx(1 / math.log2(3))
    # two relevant at ranks 1 and 3; ideal puts them at 1 and 2
    assert ndcg_at([T, F, T]) == pytest.approx((1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3)))
    assert ndcg_at([]) == 0.0
    assert ndcg_at([F, F]) == 0.0


def test_ndcg_ideal_counts_relevant_results_below_the_cutoff() -> None:
    # relevant at ranks 1 and 11: only rank 1 earns gain, but the ideal holds both
    ranking = [T] + [F] * 9 + [T]
    assert ndcg_at(ranking) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert ndcg_at(ranking[:10]) == pytest.approx(1.0)
    assert ndcg_at([F] * 10 + [T]) == 0.0


def test_ndcg_ideal_is_cut_at_k() -> None:
    assert ndcg_at([T] * 12) == pytest.approx(1.0)
    assert ndcg_at([T, T, T], k=2) == pytest.approx(1.0)


def test_ndcg_with_known_number_of_relevant_documents() -> None:
    assert ndcg_at([T], n_relevant=2) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert ndcg_at([F], n_relevant=3) == 0.0
    with pytest.raises(ValueError, match="n_relevant=1"):
        ndcg_at([T, T], n_relevant=1)


def test_duplicate_relevant_paths_are_judged_once_each() -> None:
    # two chunks of the same file: both relevant, as ir-measures judges two doc ids
    result = evaluate([(["auth.py", "auth.py", "b.py"], ["auth"])])
    assert result.metrics["ndcg_at_10"] == pytest.approx(1.0)
    result = evaluate([(["b.py", "auth.py", "auth.py"], ["auth"])])
    ideal = 1 + 1 / math.log2(3)
    assert result.metrics["ndcg_at_10"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(4)) / ideal)


# ---------------------------------------------------------------- evaluate


def test_evaluate_means_and_first_ranks() -> None:
    result = evaluate(
        [
            (["auth.py", "b.py"], ["auth"]),  # rank 1
            (["a.py", "b.py", "auth.py"], ["auth"]),  # rank 3
            ([], ["auth"]),  # empty: scores 0
            (["x.py"] * 10 + ["auth.py"], ["auth"]),  # rank 11: outside every cutoff
        ]
    )
    assert result.first_relevant_ranks == [1, 3, None, None]
    assert result.metrics["mrr"] == pytest.approx((1 + 1 / 3) / 4)
    assert result.metrics["hit_at_1"] == pytest.approx(0.25)
    assert result.metrics["hit_at_3"] == pytest.approx(0.5)
    assert result.metrics["hit_at_10"] == pytest.approx(0.5)
    assert result.metrics["ndcg_at_10"] == pytest.approx((1 + 0.5) / 4)
    assert result.scores("mrr") == pytest.approx([1.0, 1 / 3, 0.0, 0.0])
    assert set(result.metrics) == set(METRIC_NAMES)
    EvalMetrics(**result.metrics)  # the eval-result schema takes them as they are


def test_evaluate_rejects_no_questions() -> None:
    with pytest.raises(ValueError, match="no questions"):
        evaluate([])


# ---------------------------------------------------------------- parity with ir-measures

MEASURES = {
    "mrr": RR @ 10,
    "hit_at_1": Success @ 1,
    "hit_at_3": Success @ 3,
    "hit_at_5": Success @ 5,
    "hit_at_10": Success @ 10,
    "ndcg_at_10": nDCG @ 10,
}
POOL = [f"src/pkg{i % 3}/mod{i}.py" for i in range(12)]


def synthetic_questions(count: int, seed: int) -> list[tuple[list[str], list[str]]]:
    """Random rankings over a small pool of paths, so paths repeat within a ranking."""
    rng = random.Random(seed)
    questions = []
    for _ in range(count):
        length = rng.choice([0, 0, 1, 3, 10, 11, 15, 25])
        paths = [rng.choice(POOL) for _ in range(length)]
        expect = rng.sample(
            [f"mod{i}.py" for i in range(12)] + ["pkg1/", "src/", "nowhere"], k=rng.randint(1, 2)
        )
        questions.append((paths, expect))
    return questions


def ir_measures_scores(questions: list[tuple[list[str], list[str]]]) -> dict[tuple[str, str], float]:
    """ir-measures' per-question values; qrels judge every retrieved doc id, scores encode the rank."""
    qrels, run = [], []
    for q, (paths, expect) in enumerate(questions):
        qid = f"q{q}"
        for rank, path in enumerate(paths, start=1):
            doc_id = f"{qid}-d{rank}"  # a chunk id: unique, while its path may repeat
            qrels.append(ir_measures.Qrel(qid, doc_id, int(is_relevant(path, expect))))
            run.append(ir_measures.ScoredDoc(qid, doc_id, float(len(paths) - rank)))  # strictly decreasing
        if not paths:  # an unretrieved, non-relevant judgement makes the question known to ir-measures
            qrels.append(ir_measures.Qrel(qid, f"{qid}-unretrieved", 0))
    measures = {str(measure): name for name, measure in MEASURES.items()}
    return {
        (m.query_id, measures[str(m.measure)]): m.value
        for m in ir_measures.iter_calc(list(MEASURES.values()), qrels, run)
    }


def test_matches_ir_measures_on_random_runs() -> None:
    questions = synthetic_questions(80, seed=7)
    ranks = [first_relevant_rank(paths, expect, k=100) for paths, expect in questions]
    # the random set covers every case that matters
    assert sum(not paths for paths, _ in questions) >= 5
    assert any(paths and rank is None for (paths, _), rank in zip(questions, ranks, strict=True))
    assert any(rank is not None and rank > 10 for rank in ranks)
    assert any(rank == 1 for rank in ranks)
    assert any(sum(is_relevant(path, expect) for path in paths) > 10 for paths, expect in questions)

    expected = ir_measures_scores(questions)
    result = evaluate(questions)
    assert len(expected) == len(questions) * len(MEASURES)
    for q, ours in enumerate(result.per_question):
        for name in METRIC_NAMES:
            assert ours[name] == pytest.approx(expected[(f"q{q}", name)], abs=1e-9), (q, name)
    for name in METRIC_NAMES:
        mean = sum(expected[(f"q{q}", name)] for q in range(len(questions))) / len(questions)
        assert result.metrics[name] == pytest.approx(mean, abs=1e-9)


def test_tied_scores_are_reordered_by_ir_measures_but_not_here() -> None:
    """ir-measures sorts a run by score; on ties its providers order by doc id, not all the same way.

    Our metrics take the ranking as given, so a ranker's tie order is what gets scored.
    """
    given_order = ["b", "a", "c"]  # only "a" is relevant
    qrels = [ir_measures.Qrel("q", doc, int(doc == "a")) for doc in given_order]
    run = [ir_measures.ScoredDoc("q", doc, 1.0) for doc in given_order]
    theirs = {str(m.measure): m.value for m in ir_measures.iter_calc([RR @ 10, nDCG @ 10], qrels, run)}
    relevance = [doc == "a" for doc in given_order]

    assert reciprocal_rank(relevance) == pytest.approx(0.5)
    assert theirs["RR@10"] == pytest.approx(1.0)  # msmarco provider: ties by doc id ascending, "a" first
    assert ndcg_at(relevance) == pytest.approx(1 / math.log2(3))
    assert theirs["nDCG@10"] == pytest.approx(0.5)  # trec_eval: ties by doc id descending, "a" third


# ---------------------------------------------------------------- paired bootstrap


def test_bootstrap_of_identical_rankers_is_zero() -> None:
    scores = [0.0, 0.5, 1.0, 1 / 3]
    assert paired_bootstrap_ci(scores, scores) == (0.0, 0.0, 0.0)


def test_bootstrap_of_a_constant_shift_is_that_shift() -> None:
    b = [0.1, 0.4, 0.2]
    mean, low, high = paired_bootstrap_ci([x + 0.25 for x in b], b, n=500)
    assert (mean, low, high) == pytest.approx((0.25, 0.25, 0.25))


def test_bootstrap_interval_matches_the_standard_error_of_the_mean() -> None:
    rng = np.random.default_rng(1)
    a = rng.random(200)
    b = a - rng.normal(0.05, 0.2, size=200)
    diff = a - b
    mean, low, high = paired_bootstrap_ci(a.tolist(), b.tolist(), n=20_000, seed=3)
    assert mean == pytest.approx(diff.mean())
    assert low < mean < high
    # resampling with replacement: the mean's spread is std(ddof=0) / sqrt(m); the 95% half-width ~1.96x
    half_width = 1.959964 * diff.std() / math.sqrt(diff.size)
    assert (high - low) / 2 == pytest.approx(half_width, rel=0.05)


def test_bootstrap_is_reproducible_and_seeded() -> None:
    rng = random.Random(0)
    a = [rng.random() for _ in range(30)]
    b = [rng.random() for _ in range(30)]
    assert paired_bootstrap_ci(a, b, n=1000, seed=5) == paired_bootstrap_ci(a, b, n=1000, seed=5)
    assert paired_bootstrap_ci(a, b, n=1000, seed=5) != paired_bootstrap_ci(a, b, n=1000, seed=6)


def test_bootstrap_in_batches_equals_one_draw_of_n_resamples() -> None:
    # 2**22 // 300_000 = 13 rows per batch: n=30 takes three batches, the last one partial
    size, n, seed = 300_000, 30, 4
    diff = np.random.default_rng(2).random(size)
    means = diff[np.random.default_rng(seed).integers(0, size, size=(n, size))].mean(axis=1)
    expected = (diff.mean(), *np.quantile(means, [0.25, 0.75]))
    assert paired_bootstrap_ci(diff, np.zeros(size), n=n, seed=seed, alpha=0.5) == pytest.approx(expected)


def test_bootstrap_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="paired"):
        paired_bootstrap_ci([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="no paired values"):
        paired_bootstrap_ci([], [])
    with pytest.raises(ValueError, match="alpha"):
        paired_bootstrap_ci([1.0], [0.0], alpha=1.0)
