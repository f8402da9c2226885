"""Settings of the promoter service: the promotion gate's thresholds."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import msgspec

from shared.settings import Settings, from_env

Fraction = Annotated[float, msgspec.Meta(ge=0, le=1)]


class PromoterSettings(Settings, kw_only=True):
    promote_min_triplets: Annotated[int, msgspec.Meta(ge=0)] = 30  # training triplets a candidate needs
    # MRR@10 of the candidate >= the served model's + this margin (0: an equally good model passes)
    promote_mrr_margin: Fraction = 0.0
    promote_hit5_tolerance: Fraction = 0.02  # Hit@5 may drop by at most this much
    promote_require_online: bool = False  # gate "online": the candidate won its online experiment (p < 0.05)
    models_dir: Path | None = None  # where promote commands' model paths must lie; None: DATA_DIR/models

    @property
    def models(self) -> Path:
        return self.models_dir or self.data_dir / "models"


@functools.cache
def promoter_settings() -> PromoterSettings:
    return from_env(PromoterSettings)
