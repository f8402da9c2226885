"""The eval result file (DESIGN.md format plus baselines, intervals, per question) and the job's text."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from services.evaluator.pipeline import summary, trained_job_id
from services.evaluator.results import latest_document, write_latest
from shared.schemas import EvalMetrics, EvalResult, EvaluateCommand, Interval, ModelEvaluated

VERSION = "cross-encoder-codesift-20260101-120000"


def metrics(mrr: float) -> EvalMetrics:
    return EvalMetrics(mrr=mrr, hit_at_1=0.5, hit_at_3=0.6, hit_at_5=0.7, hit_at_10=0.8, ndcg_at_10=0.55)


EVENT = ModelEvaluated(
    timestamp=1_790_000_000.0,
    version=VERSION,
    job_id="evaluate-1",
    split="eval",
    total_questions=2,
    metrics=metrics(0.75),
    baselines={"none": metrics(0.5)},
    intervals={"none": Interval(mean=0.25, low=0.0, high=0.5)},
    production_version=None,
    triplets=36,
)
PER_QUESTION = [
    {"q": "a", "repo": "demo", "first_correct_rank": 1, "ranks": {"none": 2, "candidate": 1}},
    {"q": "b", "repo": "demo", "first_correct_rank": 2, "ranks": {"none": 2, "candidate": 2}},
]


def test_latest_json_has_the_design_format_and_the_comparison(tmp_path: Path):
    document = latest_document(EVENT, tmp_path / VERSION, PER_QUESTION)
    path = write_latest(tmp_path / "evals", document)
    assert path == tmp_path / "evals" / "latest.json" and list(path.parent.iterdir()) == [path]
    saved = json.loads(path.read_text())
    assert list(saved)[:4] == ["timestamp", "model_path", "metrics", "total_questions"]
    assert saved["timestamp"] == "2026-09-21T14:13:20Z"
    assert saved["model_path"] == str(tmp_path / VERSION)
    assert set(saved["metrics"]) == {"mrr", "hit_at_1", "hit_at_3", "hit_at_5", "hit_at_10", "ndcg_at_10"}
    assert saved["baselines"]["none"]["mrr"] == 0.5
    assert saved["intervals"] == {"none": {"mean": 0.25, "low": 0.0, "high": 0.5}}
    assert saved["split"] == "eval" and saved["per_question"] == PER_QUESTION and "note" not in saved
    result = msgspec.json.decode(path.read_bytes(), type=EvalResult)  # readable as the plain result
    assert result.metrics.mrr == 0.75 and [q.first_correct_rank for q in result.per_question] == [1, 2]
    assert latest_document(EVENT, tmp_path, [], note="scored all")["note"] == "scored all"
    assert "rankers" not in saved
    named = {"none": "fusion order", "candidate": "learned combiner"}
    assert latest_document(EVENT, tmp_path, [], rankers=named)["rankers"] == named


def test_the_job_message_gives_the_candidate_and_each_interval():
    assert (
        summary(EVENT)
        == f"{VERSION}: MRR@10 0.750 on 2 eval questions; vs none (0.500) +0.250 [+0.000, +0.500]"
    )


def test_a_trained_models_job_id_is_stable_and_valid():
    job_id = trained_job_id(VERSION)
    assert job_id == f"evaluate-{VERSION}" == trained_job_id(VERSION)
    msgspec.json.decode(msgspec.json.encode({"type": "evaluate", "job_id": job_id}), type=EvaluateCommand)
    assert trained_job_id("odd version/" + "x" * 80) == ("evaluate-odd-version-" + "x" * 80)[:64]
