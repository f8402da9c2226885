"""ModelEvaluated builders for the promoter's tests."""

from __future__ import annotations

from shared.schemas import EvalMetrics, Interval, ModelEvaluated


def metrics(mrr: float, hit5: float) -> EvalMetrics:
    return EvalMetrics(mrr=mrr, hit_at_1=mrr, hit_at_3=hit5, hit_at_5=hit5, hit_at_10=hit5, ndcg_at_10=mrr)


def evaluation(
    version: str = "cross-encoder-codesift-20260101-000000",
    *,
    mrr: float = 0.60,
    hit5: float = 0.80,
    none: tuple[float, float] = (0.50, 0.80),
    production: tuple[float, float] | None = None,
    production_version: str | None = None,
    low: float = 0.02,
    triplets: int = 40,
    questions: int = 20,
) -> ModelEvaluated:
    """A candidate with MRR `mrr` and Hit@5 `hit5`; baselines as (MRR, Hit@5); `low`: vs no reranker."""
    baselines = {"none": metrics(*none)}
    intervals = {"none": Interval(mean=mrr - none[0], low=low, high=mrr - none[0] + 0.05)}
    if production is not None:
        baselines["production"] = metrics(*production)
        intervals["production"] = Interval(mean=mrr - production[0], low=-0.1, high=0.1)
    return ModelEvaluated(
        timestamp=1_790_000_000.0,
        version=version,
        job_id="evaluate-1",
        split="eval",
        total_questions=questions,
        metrics=metrics(mrr, hit5),
        baselines=baselines,
        intervals=intervals,
        production_version=production_version,
        triplets=triplets,
    )
