"""A train job: the stored triplets (behind the firewall again) → fine-tuned cross-encoder → ONNX
(+ int8), and the learned combiner over them → a verified artifact directory under models/ → the
object store `models`.

Stages and their share of the progress bar: the combiner's query groups (fusion candidates from
the search service; a quarter of the queries is then kept out of the cross-encoder's training),
the cross-encoder, its export, the combiner (chosen on the held-out queries, written into the
artifact), publication. When the search service gives no candidates or too few groups have a
positive, the artifact is the cross-encoder alone and the log and manifest ("combiner_skipped")
say why. The heavy part runs in a worker thread; torch is imported only here, when a job runs.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from services.trainer.mine_job import eval_questions, feedback_seen
from services.trainer.mining import count_by_source, firewall, load_triplets
from services.trainer.params import TrainParams, parse_params
from services.trainer.settings import TrainerSettings
from shared.schemas import Candidate, TrainCommand, Triplet

if TYPE_CHECKING:  # the combiner imports onnx: only when a job runs
    from services.trainer.combiner.groups import CandidateSearch
    from services.trainer.combiner.stage import Prepared

log = logging.getLogger("codesift.trainer.train")
Progress = Callable[[float, str], None]
GROUPS, TRAIN, EXPORT, COMBINER = 0.05, 0.75, 0.85, 0.97  # where each stage ends on the progress bar


def run_train(
    command: TrainCommand,
    settings: TrainerSettings,
    progress: Progress,
    should_stop: Callable[[], bool],
    search: CandidateSearch | None = None,
) -> dict:
    """search: fusion candidates (`SearchSource.candidates`); None trains no combiner."""
    from services.trainer.combiner import fit_combiner
    from services.trainer.export import export_onnx
    from services.trainer.manifest import new_version, publish, staging_dir, write_manifest
    from services.trainer.training import train_cross_encoder

    params = parse_params(
        {
            "seed": command.seed,
            "epochs": command.epochs,
            "lr": command.lr,
            "batch_size": command.batch_size,
            "max_length": command.max_length,
            "loss": command.loss,
            "time_budget_s": command.time_budget_s,
            "min_triplets": command.min_triplets,
            "base_model": settings.reranker_base_model or None,
            "combiner": settings.combiner,
            "top_n": settings.reranker_topn,
        }
    )
    stored = load_triplets(settings.training_dir / "triplets.jsonl")
    feedback_events = feedback_seen(settings.training_dir)
    triplets, dropped = firewall(stored, eval_questions(settings))  # the golden file may have changed
    log.info(
        "%d triplets (%s); %d dropped by the firewall", len(triplets), count_by_source(triplets), len(dropped)
    )
    prepared, skipped = prepare_combiner(triplets, params, search, lambda f, m: progress(GROUPS * f, m))
    settings.models.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.models, prefix=".tmp-work-") as work:
        result = train_cross_encoder(
            prepared.cross_encoder_triplets(triplets) if prepared else triplets,
            Path(work),
            params,
            progress=lambda f, m: progress(GROUPS + (TRAIN - GROUPS) * f, m),
            should_stop=should_stop,
        )
        progress(TRAIN, "exporting to ONNX and checking parity")
        staging = staging_dir(settings.models)
        exported = export_onnx(result.hf_dir, staging, result.parity_pairs)
        section = None
        if prepared is not None:
            section = fit_combiner(
                prepared,
                staging,
                ce_dir=staging,
                setting=params.combiner,
                seed=params.seed,
                progress=lambda f, m: progress(EXPORT + (COMBINER - EXPORT) * f, m),
            )
            log.info("combiner: %s", {k: v for k, v in section.items() if k != "importances"})
        version = new_version()
        write_manifest(
            staging,
            version=version,
            training=result,
            export=exported,
            combiner=section,
            combiner_skipped=skipped,
            feedback_events=feedback_events,
        )
        final = publish(staging, settings.models, version)
    log.info("model %s written to %s", version, final)
    return {
        "version": version,
        "path": str(final),
        "triplets": count_by_source(triplets),
        "feedback_events": feedback_events,
        "steps": result.steps,
        "stop_reason": result.stop_reason,
        "validation_mrr": result.validation[-1].mrr if result.validation else None,
        "int8_rel_error": exported.int8.rel_error,
        "combiner": section["kind"] if section else None,
        "combiner_skipped": skipped,
    }


def prepare_combiner(
    triplets: list[Triplet], params: TrainParams, search: CandidateSearch | None, progress: Progress
) -> tuple[Prepared | None, str | None]:
    """(the combiner's groups, None), or (None, why no combiner is trained)."""
    from services.trainer.combiner import Skipped, prepare

    if params.combiner == "none":
        reason = "combiner: none asked"
    elif search is None:
        reason = "no search service to ask for fusion candidates"
    else:
        try:
            prepared = prepare(triplets, _indexed_only(search), params.top_n, progress)
        except Skipped as exc:
            reason = str(exc)
        except Exception as exc:  # the search service is down or answers an error: the CE still trains
            reason = f"the search service gave no fusion candidates: {exc or type(exc).__name__}"
        else:
            kept = len(prepared.cross_encoder_triplets(triplets))
            if kept >= params.min_triplets:
                return prepared, None
            reason = f"the combiner's held-out queries would leave {kept} triplets (< {params.min_triplets})"
    log.warning("no combiner trained: %s", reason)
    progress(1.0, f"no combiner: {reason}")
    return None, reason


def _indexed_only(search: CandidateSearch) -> CandidateSearch:
    """No candidates for a repository that is no longer indexed (its groups are dropped)."""
    from services.trainer.sources import SourceError

    def candidates(query: str, repo: str | None, k: int) -> list[Candidate]:
        try:
            return search(query, repo, k)
        except SourceError as exc:
            if exc.field == "repo":
                return []
            raise

    return candidates
