"""Naming the model to promote: a version, or a model directory inside the models directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.promoter.errors import PromotionError
from services.promoter.promotion import model_version

V = "cross-encoder-codesift-20260101-000000"
MODELS = Path("/srv/codesift/data/models")


@pytest.mark.parametrize("model", [V, f"{MODELS}/{V}", f"{MODELS}/{V}/", f" {V} ", f"./{V}"])
def test_a_version_or_a_model_directory_names_the_version(model: str):
    assert model_version(MODELS, model) == V


@pytest.mark.parametrize(
    "model", ["", " ", f"/elsewhere/{V}", f"../{V}", f"{V}/nested", ".tmp-x", f"{V}\x00", f"{V}/../../../etc"]
)
def test_anything_else_is_refused(model: str):
    with pytest.raises(PromotionError, match="model_path: "):
        model_version(MODELS, model)
