"""A real trained cross-encoder artifact in seconds, for tests that need one (evaluator, promoter, replicas).

Trained on the tiny corpus of tests/unit/trainer/tiny_corpus.py (max length 64, one epoch), exported
to ONNX + int8 and published with its manifest, exactly as the trainer does. Use it with

    from tests.model_fixtures import tiny_model_fixture  # noqa: F401  (registers fixture `tiny_model`)

and copy the directory (`install_model`) under the version name a test needs.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from shared.artifacts import VERSION_PREFIX

TINY_VERSION = VERSION_PREFIX + "20260101-120000"


def train_tiny_model(models_dir: Path, version: str = TINY_VERSION) -> Path:
    """Train, export and publish the tiny model as `models_dir/version` (about 10 s on 2 cores)."""
    from services.trainer.export import export_onnx
    from services.trainer.manifest import publish, staging_dir, write_manifest
    from services.trainer.params import TrainParams
    from services.trainer.training import train_cross_encoder
    from tests.unit.trainer.tiny_corpus import tiny_triplets

    params = TrainParams(
        max_length=64, batch_size=8, epochs=1, negatives_per_query=2, validation_fraction=0.2
    )
    with tempfile.TemporaryDirectory(prefix="tiny-model-") as work:
        trained = train_cross_encoder(tiny_triplets(36), Path(work), params)
        staging = staging_dir(models_dir)
        exported = export_onnx(trained.hf_dir, staging, trained.parity_pairs)
        write_manifest(staging, version=version, training=trained, export=exported)
        return publish(staging, models_dir, version)


def install_model(model_dir: Path, models_dir: Path, version: str) -> Path:
    """A copy of a model directory as `models_dir/version` (its manifest still verifies)."""
    models_dir.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copytree(model_dir, models_dir / version))


@pytest.fixture(scope="session", name="tiny_model")
def tiny_model_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory of a real trained model, version TINY_VERSION (read-only: copy it to change it)."""
    return train_tiny_model(tmp_path_factory.mktemp("tiny-models"))
