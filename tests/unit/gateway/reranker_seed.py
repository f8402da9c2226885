"""Registry, evaluation and decision records as the trainer, evaluator and promoter write them.

Used by the gateway's reranker tests and the reranker page's browser test to seed a real NATS.
"""

from __future__ import annotations

from collections.abc import Sequence

import nats
from nats.aio.client import Client

from shared import subjects
from shared.schemas import (
    EvalMetrics,
    Interval,
    ModelEvaluated,
    ModelPointer,
    ModelTrained,
    PromotionDecision,
    encoder,
)
from shared.streams import Buckets, bootstrap

OLD = "cross-encoder-codesift-20260101-120000"
NEW = "cross-encoder-codesift-20260102-120000"


def trained(
    version: str,
    created: str,
    triplets: dict[str, int],
    loss_curve: list[list[float]],
    combiner: dict[str, object] | None = None,
) -> ModelTrained:
    """combiner: the manifest's "combiner" section (tests.combiner_fixtures.combiner_section); None
    for a cross-encoder alone."""
    manifest: dict[str, object] = {
        "version": version,
        "created": created,
        "params": {"epochs": 1, "loss": "bce", "lr": 3e-5, "batch_size": 16},
        "triplets": {"by_source": triplets, "train": sum(triplets.values()), "validation": 4},
        "training": {
            "steps": int(loss_curve[-1][0]),
            "stop_reason": "completed",
            "train_seconds": 42.0,
            "loss_curve": loss_curve,
            "validation": [
                {"step": 0, "epoch": 0.0, "mrr": 0.40, "loss": None},
                {"step": int(loss_curve[-1][0]), "epoch": 1.0, "mrr": 0.61, "loss": 0.3},
            ],
        },
        "parity": {"pairs": 32, "int8": {"spearman": 0.98}},
        "files": {"model.int8.onnx": "0" * 64},
    }
    if combiner is not None:
        manifest["combiner"] = combiner
    return ModelTrained(
        timestamp=1.0, version=version, sha256="a" * 64, job_id=f"train-{version[-15:]}",
        triplets=triplets, manifest=manifest,
    )  # fmt: skip


def metrics(mrr: float, hit5: float) -> EvalMetrics:
    return EvalMetrics(
        mrr=mrr, hit_at_1=mrr - 0.1, hit_at_3=hit5 - 0.05, hit_at_5=hit5, hit_at_10=hit5 + 0.05,
        ndcg_at_10=mrr + 0.02,
    )  # fmt: skip


def evaluated(version: str, mrr: float, hit5: float, production: str | None) -> ModelEvaluated:
    baselines = {"none": metrics(0.50, 0.70)}
    intervals = {"none": Interval(mean=mrr - 0.50, low=mrr - 0.55, high=mrr - 0.45)}
    if production is not None:
        baselines["production"] = metrics(0.55, 0.75)
        intervals["production"] = Interval(mean=mrr - 0.55, low=mrr - 0.60, high=mrr - 0.50)
    return ModelEvaluated(
        timestamp=2.0, version=version, job_id=f"evaluate-{version[-15:]}", split="eval", total_questions=40,
        metrics=metrics(mrr, hit5), baselines=baselines, intervals=intervals,
        production_version=production, triplets=120,
    )  # fmt: skip


def decision(version: str, gates: dict[str, bool], reasons: list[str]) -> PromotionDecision:
    return PromotionDecision(
        timestamp=3.0, version=version, action="promote", promoted=all(gates.values()), forced=False,
        gates=gates, reasons=reasons,
    )  # fmt: skip


async def seed(
    url: str,
    *,
    models: Sequence[ModelTrained] = (),
    evaluations: Sequence[ModelEvaluated] = (),
    pointer: ModelPointer | None = None,
    decisions: Sequence[PromotionDecision] = (),
    users: dict[str, str] | None = None,
) -> None:
    """Write the records where their services keep them: KV registry and evals, stream EVENTS.

    users: a `codesift up` stack's NATS users (DATA_DIR/secrets/nats-users.json); each record is
    then written by the user of the service that writes it (None: a server without authentication).
    """
    trainer = await connect_as(url, "trainer", users)
    evaluator = await connect_as(url, "evaluator", users)
    promoter = await connect_as(url, "promoter", users)
    try:
        js = await bootstrap(trainer)
        registry = await js.key_value(Buckets.REGISTRY)
        for model in models:
            await registry.put(f"trained.{model.version}", encoder.encode(model))
        evals = await evaluator.jetstream().key_value(Buckets.EVALS)
        for evaluation in evaluations:
            await evals.put(evaluation.version, encoder.encode(evaluation))
            await evals.put("latest", encoder.encode(evaluation))
        promoter_js = promoter.jetstream()
        if pointer is not None:
            await (await promoter_js.key_value(Buckets.REGISTRY)).put("model", encoder.encode(pointer))
        for made in decisions:
            await promoter_js.publish(subjects.MODEL_DECISION, encoder.encode(made))
    finally:
        for nc in (trainer, evaluator, promoter):
            await nc.close()


async def connect_as(url: str, kind: str, users: dict[str, str] | None) -> Client:
    return await nats.connect(url, **({"user": kind, "password": users[kind]} if users else {}))
