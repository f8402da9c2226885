"""A train job: the stored triplets (behind the firewall again) → fine-tuned cross-encoder → ONNX
(+ int8) → a verified artifact directory under models/ → the object store `models`.

The heavy part runs in a worker thread; torch is imported only here, when a job runs.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

from services.trainer.mine_job import eval_questions
from services.trainer.mining import count_by_source, firewall, load_triplets
from services.trainer.params import parse_params
from services.trainer.settings import TrainerSettings
from shared.schemas import TrainCommand

log = logging.getLogger("codesift.trainer.train")
Progress = Callable[[float, str], None]
TRAIN_SHARE = 0.85  # of the job's progress bar; export and publication take the rest


def run_train(
    command: TrainCommand, settings: TrainerSettings, progress: Progress, should_stop: Callable[[], bool]
) -> dict:
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
        }
    )
    stored = load_triplets(settings.training_dir / "triplets.jsonl")
    triplets, dropped = firewall(stored, eval_questions(settings))  # the golden file may have changed
    log.info(
        "%d triplets (%s); %d dropped by the firewall", len(triplets), count_by_source(triplets), len(dropped)
    )
    settings.models.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=settings.models, prefix=".tmp-work-") as work:
        result = train_cross_encoder(
            triplets,
            Path(work),
            params,
            progress=lambda f, m: progress(TRAIN_SHARE * f, m),
            should_stop=should_stop,
        )
        progress(TRAIN_SHARE, "exporting to ONNX and checking parity")
        staging = staging_dir(settings.models)
        exported = export_onnx(result.hf_dir, staging, result.parity_pairs)
        version = new_version()
        write_manifest(staging, version=version, training=result, export=exported)
        final = publish(staging, settings.models, version)
    log.info("model %s written to %s", version, final)
    return {
        "version": version,
        "path": str(final),
        "triplets": count_by_source(triplets),
        "steps": result.steps,
        "stop_reason": result.stop_reason,
        "validation_mrr": result.validation[-1].mrr if result.validation else None,
        "int8_spearman": exported.int8.spearman,
    }
