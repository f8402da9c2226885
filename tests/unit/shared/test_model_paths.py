"""A model named by a request must be a directory directly inside the models directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.artifacts import ModelPathError, resolve_model_path

VERSION = "cross-encoder-codesift-20260101-120000"


@pytest.fixture
def models(tmp_path: Path) -> Path:
    root = tmp_path / "data" / "models"
    (root / VERSION).mkdir(parents=True)
    return root


def test_a_version_or_a_path_inside_resolves_to_the_model_directory(models: Path):
    expected = (models / VERSION).resolve()
    assert resolve_model_path(models, VERSION) == expected
    assert resolve_model_path(models, f"./{VERSION}") == expected
    assert resolve_model_path(models, str(models / VERSION)) == expected
    assert resolve_model_path(models, f"{models}/../models/{VERSION}/") == expected
    # not there (yet): still a name inside, the object store may hold it
    assert (
        resolve_model_path(models, "cross-encoder-codesift-x")
        == models.resolve() / "cross-encoder-codesift-x"
    )


def test_a_link_inside_that_stays_inside_is_followed(models: Path):
    (models / "current").symlink_to(models / VERSION)
    assert resolve_model_path(models, "current") == (models / VERSION).resolve()


@pytest.mark.parametrize(
    "value",
    [
        "../x",
        f"../models/../{VERSION}",
        "/etc",
        "/tmp/cross-encoder-codesift-20260101-120000",
        f"{VERSION}/model.int8.onnx",  # inside, but not a model directory
        ".",
        "",
        "   ",
        ".tmp-abc123",  # a staging directory of the trainer
        "bad\x00name",
    ],
)
def test_anything_else_is_refused_naming_model_path(models: Path, value: str):
    with pytest.raises(ModelPathError, match=r"^model_path: ") as caught:
        resolve_model_path(models, value)
    assert caught.value.field == "model_path"


def test_an_absolute_path_beside_the_models_directory_is_refused(models: Path, tmp_path: Path):
    outside = tmp_path / "data" / "other"
    outside.mkdir()
    with pytest.raises(ModelPathError, match="not a model directory inside"):
        resolve_model_path(models, str(outside))


def test_a_link_leading_out_of_the_models_directory_is_refused(models: Path, tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (models / "cross-encoder-codesift-evil").symlink_to(elsewhere)
    with pytest.raises(ModelPathError):
        resolve_model_path(models, "cross-encoder-codesift-evil")
    with pytest.raises(ModelPathError):
        resolve_model_path(models, str(models / "cross-encoder-codesift-evil"))
