"""Comparing rankers on canned candidates: metrics, intervals, per-question ranks, ir-measures parity."""

from __future__ import annotations

import ir_measures
import msgspec
import pytest
from ir_measures import RR, Success, nDCG

from services.evaluator.comparison import compare
from services.evaluator.rankers import fusion_order, served
from shared.combiner import Combiner
from shared.metrics import METRIC_NAMES, is_relevant
from tests.combiner_fixtures import write_combiner
from tests.unit.evaluator.canned import TARGET, KeywordScorer, question_set, random_ranks

TOP_N = 20


def test_a_cross_encoder_that_knows_the_answer_improves_mrr_with_an_interval_above_zero():
    questions, candidates = question_set([*random_ranks(40, 1, 14), None, 25])
    rankers = {"none": fusion_order, "candidate": served(KeywordScorer(1.0), TOP_N)}
    result = compare(questions, candidates, rankers)
    none, better = result.evaluations["none"], result.evaluations["candidate"]
    assert better.metrics["mrr"] > none.metrics["mrr"] + 0.05
    assert all(b >= a for a, b in zip(none.scores("mrr"), better.scores("mrr"), strict=True))
    interval = result.interval("candidate", "none")
    assert interval.mean == pytest.approx(better.metrics["mrr"] - none.metrics["mrr"])
    assert 0 < interval.low < interval.mean < interval.high
    # below the top N and absent: nothing a reranker of the top N can do
    assert none.first_relevant_ranks[-2:] == better.first_relevant_ranks[-2:] == [None, None]


def test_a_cross_encoder_that_inverts_the_answer_shows_a_negative_interval():
    questions, candidates = question_set(random_ranks(40, 1, 3, seed=1))
    rankers = {"none": fusion_order, "candidate": served(KeywordScorer(-1.0), TOP_N)}
    result = compare(questions, candidates, rankers)
    interval = result.interval("candidate", "none")
    assert interval.low < interval.high < 0
    assert (
        result.evaluations["candidate"].metrics["hit_at_1"] < result.evaluations["none"].metrics["hit_at_1"]
    )


def test_per_question_ranks_of_every_ranker():
    questions, candidates = question_set([1, 5, None])
    rankers = {"none": fusion_order, "candidate": served(KeywordScorer(1.0), TOP_N)}
    rows = compare(questions, candidates, rankers).per_question("candidate")
    assert rows == [
        {"q": "question 0", "repo": "demo", "first_correct_rank": 1, "ranks": {"none": 1, "candidate": 1}},
        {"q": "question 1", "repo": "demo", "first_correct_rank": 3, "ranks": {"none": 5, "candidate": 3}},
        {
            "q": "question 2",
            "repo": "demo",
            "first_correct_rank": None,
            "ranks": {"none": None, "candidate": None},
        },
    ]


def test_candidates_are_put_in_fusion_order_first_and_a_ranker_named_twice_runs_once():
    questions, candidates = question_set([3, 8])
    shuffled = [list(reversed(found)) for found in candidates]
    scorer = KeywordScorer(1.0)
    ranker = served(scorer, TOP_N)
    result = compare(questions, shuffled, {"none": fusion_order, "candidate": ranker, "production": ranker})
    assert result.evaluations["none"].first_relevant_ranks == [3, 8]
    assert len(scorer.calls) == 2
    assert result.evaluations["production"].per_question == result.evaluations["candidate"].per_question
    assert result.interval("candidate", "production").mean == 0.0


def test_a_ranker_that_drops_candidates_is_an_error():
    questions, candidates = question_set([2])
    with pytest.raises(ValueError, match="permutation"):
        compare(questions, candidates, {"bad": lambda q, found: list(range(len(found) - 1))})
    with pytest.raises(ValueError, match="no questions"):
        compare([], [], {"none": fusion_order})


MEASURES = {
    "mrr": RR @ 10,
    "hit_at_1": Success @ 1,
    "hit_at_3": Success @ 3,
    "hit_at_5": Success @ 5,
    "hit_at_10": Success @ 10,
    "ndcg_at_10": nDCG @ 10,
}


def test_metrics_equal_ir_measures_on_the_same_run():
    ranks = [*random_ranks(30, 1, 20, seed=3), None, 26]
    questions, candidates = question_set(ranks)
    for found in candidates[:10]:  # a second relevant chunk of the same file, for nDCG's ideal
        found[-1] = msgspec.structs.replace(found[-1], path=TARGET)
    ranker = served(KeywordScorer(1.0), TOP_N)
    result = compare(questions, candidates, {"candidate": ranker}).evaluations["candidate"]

    qrels, run = [], []
    for i, (question, found) in enumerate(zip(questions, candidates, strict=True)):
        ordered = sorted(found, key=lambda c: c.fusion_rank)
        for position, index in enumerate(ranker(question.q, ordered)):
            doc = ordered[index]
            qrels.append(
                ir_measures.Qrel(f"q{i}", doc.doc_id, int(is_relevant(doc.path, question.expect_paths)))
            )
            run.append(ir_measures.ScoredDoc(f"q{i}", doc.doc_id, float(len(ordered) - position)))
    names = {str(measure): name for name, measure in MEASURES.items()}
    expected = {
        (m.query_id, names[str(m.measure)]): m.value
        for m in ir_measures.iter_calc(list(MEASURES.values()), qrels, run)
    }
    assert len(expected) == len(questions) * len(METRIC_NAMES)
    for i, ours in enumerate(result.per_question):
        for name in METRIC_NAMES:
            assert ours[name] == pytest.approx(expected[(f"q{i}", name)], abs=1e-9), (i, name)


def test_a_combiner_that_inverts_fusion_ranks_worse_than_no_reranker(tmp_path):
    """What the promoter's interval gate refuses: its upper bound against no reranker is below zero."""
    questions, candidates = question_set(random_ranks(40, 1, 3, seed=2))
    inverts = Combiner(write_combiner(tmp_path, {"fusion_rank_log": 1.0}))  # prefers the worst fusion ranks
    rankers = {"none": fusion_order, "candidate": served(None, TOP_N, inverts)}
    result = compare(questions, candidates, rankers)
    interval = result.interval("candidate", "none")
    assert interval.low < interval.high < 0
    assert result.evaluations["candidate"].first_relevant_ranks == [
        TOP_N + 1 - rank if TOP_N + 1 - rank <= 10 else None
        for rank in result.evaluations["none"].first_relevant_ranks
    ]
