"""Settings of the evaluator service.

CODESIFT_RERANKER_TOPN and CODESIFT_RERANKER_MAX_LENGTH are the search replicas' own variables:
one environment gives the evaluator exactly the ranking the replicas serve.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import msgspec

from shared.settings import Settings, from_env


class EvaluatorSettings(Settings, kw_only=True):
    golden_path: Path = Path("golden.json")  # golden questions (the eval side of their split is scored)
    models_dir: Path | None = None  # None: DATA_DIR/models
    reranker_topn: Annotated[int, msgspec.Meta(ge=1, le=100)] = 20  # candidates the cross-encoder reorders
    reranker_max_length: Annotated[int, msgspec.Meta(ge=32, le=512)] | None = None  # None: as trained
    eval_candidates: Annotated[int, msgspec.Meta(ge=10, le=500)] = 50  # per question: nDCG sees below top-N
    eval_resamples: Annotated[int, msgspec.Meta(ge=100, le=1_000_000)] = 10_000  # paired bootstrap

    @property
    def models(self) -> Path:
        return self.models_dir or self.data_dir / "models"

    @property
    def evals_dir(self) -> Path:
        return self.data_dir / "evals"

    @property
    def model_cache(self) -> Path:
        """Where models found only in the object store are unpacked (an evaluator on another machine)."""
        return self.cache_dir / "models"


@functools.cache
def evaluator_settings() -> EvaluatorSettings:
    return from_env(EvaluatorSettings)
