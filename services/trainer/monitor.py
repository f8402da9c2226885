"""A TrainerCallback that watches a training run: time budget, cancel, progress, loss and validation."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from services.trainer.training import LossPoint, Progress, Validation

MRR_KEY = "eval_validation_mrr@"  # CrossEncoderRerankingEvaluator(name="validation") as the trainer logs it


class TrainingMonitor(TrainerCallback):
    """`deadline`: time.monotonic() by which the training loop must end (None: no limit).

    It can be set after construction (the trainer needs its callbacks up front; the deadline is
    known once the pre-training validation has been timed).
    """

    def __init__(
        self, report: Progress, should_stop: Callable[[], bool] | None, deadline: float | None = None
    ):
        self.report, self.should_stop, self.deadline = report, should_stop, deadline
        self.budget_spent = False
        self.cancelled = False
        self.step_times: list[float] = []  # forward and backward passes only, for pairs/s
        self.loss_curve: list[LossPoint] = []
        self.validation: list[Validation] = []
        self._loop_began = self._step_began = 0.0
        self._loss = float("nan")

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ):
        self._loop_began = time.monotonic()

    def on_step_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any):
        self._step_began = time.monotonic()

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any):
        now = time.monotonic()
        self.step_times.append(now - self._step_began)
        next_step = sum(self.step_times) / len(self.step_times)
        if self.should_stop is not None and self.should_stop():
            self.cancelled = True
            control.should_training_stop = True
        elif (
            self.deadline is not None
            and state.global_step < state.max_steps
            and now + next_step > self.deadline
        ):
            self.budget_spent = True
            control.should_training_stop = True  # the trainer still runs the epoch-end validation
        fraction = state.global_step / max(1, state.max_steps)
        if self.deadline is not None:
            fraction = max(fraction, (now - self._loop_began) / max(1e-9, self.deadline - self._loop_began))
        epoch = state.epoch or 0.0
        message = f"step {state.global_step}/{state.max_steps}, epoch {epoch:.2f}, loss {self._loss:.4f}"
        self.report(min(1.0, fraction), message)

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kw: Any,
    ):
        logs = logs or {}
        if "loss" in logs:
            self._loss = float(logs["loss"])
            self.loss_curve.append(LossPoint(state.global_step, self._loss))
        mrr = next((value for key, value in logs.items() if key.startswith(MRR_KEY)), None)
        if mrr is not None:
            loss = logs.get("eval_loss")
            epoch = float(logs.get("epoch", state.epoch or 0.0))
            self.validation.append(
                Validation(state.global_step, epoch, float(mrr), None if loss is None else float(loss))
            )
            loss_text = "" if loss is None else f", loss {loss:.4f}"
            self.report(
                min(1.0, state.global_step / max(1, state.max_steps)) if state.max_steps else 0.0,
                f"validation at step {state.global_step}: MRR {mrr:.3f}{loss_text}",
            )
