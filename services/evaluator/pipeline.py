"""The evaluator: one evaluation at a time, from a trained-model event or an evaluate command.

Each evaluation scores the chosen golden questions on the same retrieval candidates three ways
(no reranker, the production model as served, the candidate as it would be served), then
records the outcome (KV `evals`, `evals/latest.json`) and announces it (`codesift.model.evaluated`).
A model "as served" is the whole pipeline a replica runs for it (`rankers.served`): its learned
combiner over the candidates' features, with its cross-encoder's scores only when the combiner
uses them, or the fused-rank blend for a cross-encoder alone.
Progress goes to the job's KV entry and subject like every other job's.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import msgspec
from nats.aio.client import Client
from nats.js import JetStreamContext

from services.evaluator import results
from services.evaluator.candidates import retrieve
from services.evaluator.comparison import Comparison, compare
from services.evaluator.golden_questions import select_questions
from services.evaluator.models import Model, ModelFinder
from services.evaluator.rankers import Ranker, fusion_order, pipeline_name, served
from services.evaluator.settings import EvaluatorSettings
from shared.combiner import Combiner, has_combiner
from shared.jobs import JobReporter
from shared.ranking import needs_cross_encoder
from shared.schemas import (
    Candidate,
    EvalMetrics,
    EvaluateCommand,
    GoldenQuestion,
    ModelEvaluated,
    ModelTrained,
)
from shared.scoring import CrossEncoderScorer

log = logging.getLogger("codesift.evaluator")
KIND = "evaluate"
CANDIDATE, NONE, PRODUCTION = "candidate", "none", "production"
RANKING_START, RANKING_END = 0.15, 0.95  # share of the job's progress bar spent ranking


def trained_job_id(version: str) -> str:
    """The job that evaluates a newly trained model: the same id if the event is delivered again."""
    return ("evaluate-" + re.sub(r"[^A-Za-z0-9_-]", "-", version))[:64]


class Evaluator:
    def __init__(self, settings: EvaluatorSettings, nc: Client, js: JetStreamContext):
        self.settings, self.nc, self.js = settings, nc, js
        self.finder = ModelFinder(js, settings.models, settings.model_cache)
        self.lock = asyncio.Lock()

    async def on_command(self, command: EvaluateCommand) -> ModelEvaluated | None:
        return await self.run(command.job_id, command.model, golden=command.golden, split=command.split)

    async def on_trained(self, event: ModelTrained) -> ModelEvaluated | None:
        return await self.run(trained_job_id(event.version), event.version, sha256=event.sha256)

    async def run(
        self,
        job_id: str,
        model: str | None,
        *,
        sha256: str | None = None,
        golden: str | None = None,
        split: Literal["eval", "all"] = "eval",
    ) -> ModelEvaluated | None:
        """Evaluate `model` (None: the newest trained); the event, or None when the job failed."""
        reporter = JobReporter(self.nc, self.js, job_id, KIND)
        if self.lock.locked():
            await reporter.report("queued", 0.0, "waiting for the evaluation before it")
        async with self.lock:
            try:
                await reporter.report("running", 0.0, "evaluation started")
                golden_path = Path(golden) if golden else self.settings.golden_path
                event, document = await self._evaluate(job_id, model, sha256, golden_path, split, reporter)
            except Exception as exc:
                log.exception("evaluation %s failed", job_id)
                await reporter.report("failed", 0.0, str(exc) or type(exc).__name__)
                return None
            message = summary(event)
            log.info("evaluation %s: %s", job_id, message)
            result = {key: document[key] for key in ("version", "model_path", "split", "total_questions")}
            result |= msgspec.to_builtins(
                {"metrics": event.metrics, "baselines": event.baselines, "intervals": event.intervals}
            )
            if "note" in document:
                result["note"] = document["note"]
            await reporter.report("succeeded", 1.0, message, result=result)
            return event

    async def _evaluate(
        self,
        job_id: str,
        model: str | None,
        sha256: str | None,
        golden_path: Path,
        split: Literal["eval", "all"],
        reporter: JobReporter,
    ) -> tuple[ModelEvaluated, dict[str, object]]:
        questions, split_used, note = select_questions(golden_path, split)
        candidate = await (self.finder.named(model, sha256) if model else self.finder.newest())
        production = await self.finder.production()
        await reporter.report("running", 0.05, f"retrieving candidates of {len(questions)} questions")
        retrieval = await retrieve(
            self.nc, questions, self.settings.eval_candidates, self.settings.request_timeout
        )
        if retrieval.skipped:
            skipped = ", ".join(f"{repo} ({n})" for repo, n in sorted(retrieval.skipped.items()))
            note = "; ".join(filter(None, [note, f"questions skipped, repository not indexed: {skipped}"]))
        await reporter.report("running", RANKING_START, f"ranking {len(retrieval.questions)} questions")
        progress = reporter.threadsafe(asyncio.get_running_loop())
        comparison = await asyncio.to_thread(
            self._compare,
            retrieval.questions,
            retrieval.candidates,
            candidate,
            production,
            lambda f, m: progress(RANKING_START + (RANKING_END - RANKING_START) * f, m),
        )
        baselines = [NONE] + ([PRODUCTION] if production is not None else [])
        resamples = self.settings.eval_resamples
        event = ModelEvaluated(
            timestamp=time.time(),
            version=candidate.version,
            job_id=job_id,
            split=split_used,
            total_questions=len(retrieval.questions),
            metrics=EvalMetrics(**comparison.evaluations[CANDIDATE].metrics),
            baselines={name: EvalMetrics(**comparison.evaluations[name].metrics) for name in baselines},
            intervals={name: comparison.interval(CANDIDATE, name, resamples) for name in baselines},
            production_version=production.version if production is not None else None,
            triplets=candidate.triplets,
        )
        rankers = {NONE: pipeline_name(None), CANDIDATE: pipeline_name(candidate.path)}
        if production is not None:
            rankers[PRODUCTION] = pipeline_name(production.path)
        per_question = comparison.per_question(CANDIDATE)
        document = results.latest_document(event, candidate.path, per_question, note, rankers)
        await asyncio.to_thread(results.write_latest, self.settings.evals_dir, document)
        await results.announce(self.js, event)
        return event, document

    def _compare(
        self,
        questions: list[GoldenQuestion],
        candidates: list[list[Candidate]],
        candidate: Model,
        production: Model | None,
        progress: Callable[[float, str], None],
    ) -> Comparison:
        """Rank every question three ways (worker thread: the cross-encoders are CPU-bound)."""
        candidate_ranker = self._served(candidate)
        rankers: dict[str, Ranker] = {NONE: fusion_order, CANDIDATE: candidate_ranker}
        if production is not None:
            same = production.version == candidate.version
            rankers[PRODUCTION] = candidate_ranker if same else self._served(production)
        return compare(questions, candidates, rankers, progress)

    def _served(self, model: Model) -> Ranker:
        """The model as a replica serves it: its combiner, int8 ONNX, the replicas' top-N and max length.

        Raises shared.artifacts.ArtifactError for a combiner this build cannot serve.
        """
        combiner = Combiner(model.path) if has_combiner(model.path) else None
        scorer = None
        if needs_cross_encoder(combiner):
            # one pair per batch, as replicas score: int8 activations are quantized per batch, so a
            # pair's score depends on its batch-mates otherwise (up to 5e-3), and eval must match serving
            scorer = CrossEncoderScorer(
                model.path, quantized=True, max_length=self.settings.reranker_max_length, batch_size=1
            )
        return served(scorer, self.settings.reranker_topn, combiner)


def summary(event: ModelEvaluated) -> str:
    """'cross-encoder-...: MRR@10 0.612 on 29 eval questions; vs none (0.571) +0.041 [+0.010, +0.072]'."""
    questions = f"{event.total_questions} {event.split} questions"
    parts = [f"{event.version}: MRR@10 {event.metrics.mrr:.3f} on {questions}"]
    for name, interval in event.intervals.items():
        parts.append(
            f"vs {name} ({event.baselines[name].mrr:.3f}) {interval.mean:+.3f} "
            f"[{interval.low:+.3f}, {interval.high:+.3f}]"
        )
    return "; ".join(parts)
