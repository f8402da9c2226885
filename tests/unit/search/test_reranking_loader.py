"""How a replica follows the production pointer: broadcasts, the safety poll, prepared models, failures."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from pathlib import Path

import numpy as np
import pytest

from services.search import model_loader
from services.search.model_loader import RerankerConfigError, RerankerLoader
from services.search.replica import NO_RERANKER, Replica
from services.search.reranking import LoadedReranker
from services.search.settings import SearchSettings
from shared.artifacts import MANIFEST, ArtifactError, file_hashes
from shared.schemas import ModelPointer
from shared.settings import SettingsError, from_env
from tests.prometheus_samples import sample


class Builds:
    """Stands in for download + session build: records each build, can fail or hold one."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.failures: dict[str, Exception] = {}
        self.holds: dict[str, asyncio.Event] = {}

    async def __call__(self, version: str, sha256: str) -> LoadedReranker:
        self.calls.append(version)
        if version in self.holds:
            await self.holds[version].wait()
        if version in self.failures:
            raise self.failures[version]
        return LoadedReranker(version=version, sha256=sha256, scorer=None)  # type: ignore[arg-type]


@pytest.fixture
def pointer(monkeypatch) -> dict[str, ModelPointer | None]:
    state: dict[str, ModelPointer | None] = {"model": None}

    async def read(js):
        return state["model"]

    monkeypatch.setattr(model_loader, "read_model_pointer", read)
    return state


def make_loader(monkeypatch, **settings) -> tuple[RerankerLoader, Builds]:
    replica = Replica(SearchSettings(replica_id="r1", **settings), embedder=None)  # type: ignore[arg-type]
    loader = RerankerLoader(replica, js=None, settings=replica.settings)  # type: ignore[arg-type]
    builds = Builds()
    monkeypatch.setattr(loader, "_build", builds)
    return loader, builds


def served(loader: RerankerLoader) -> str | None:
    reranker = loader.replica.reranker
    return reranker.version if reranker else None


async def test_an_update_swaps_in_the_new_model_and_none_goes_back_to_fusion(monkeypatch):
    loader, builds = make_loader(monkeypatch)
    await loader.updated("v1", "a" * 64)
    assert served(loader) == "v1" and loader.replica.info().reranker_checked_at is not None
    await loader.updated("v1", "a" * 64)  # already served: nothing to load
    assert builds.calls == ["v1"]
    await loader.updated(None, None)
    assert served(loader) is None and loader.replica.info().reranker == NO_RERANKER


async def test_a_failed_load_keeps_the_old_model_and_reports_why(monkeypatch):
    loader, builds = make_loader(monkeypatch)
    await loader.updated("v1", "a" * 64)
    builds.failures["v2"] = ArtifactError("v2: the archive does not match its sha256; refused")
    await loader.updated("v2", "b" * 64)
    info = loader.replica.info()
    assert info.reranker_version == "v1"
    assert info.reranker_error.startswith("v2: ") and "sha256" in info.reranker_error
    await loader.updated("v3", "c" * 64)
    assert served(loader) == "v3" and loader.replica.info().reranker_error is None


async def test_a_rollback_to_the_model_served_before_needs_no_load(monkeypatch):
    loader, builds = make_loader(monkeypatch)
    await loader.updated("v1", "a" * 64)
    await loader.updated("v2", "b" * 64)
    await loader.updated("v1", "a" * 64)
    assert served(loader) == "v1" and builds.calls == ["v1", "v2"]
    await loader.updated(None, None)
    await loader.updated("v1", "a" * 64)
    assert served(loader) == "v1" and builds.calls == ["v1", "v2"]


async def test_an_update_without_a_sha256_is_refused(monkeypatch):
    loader, builds = make_loader(monkeypatch)
    await loader.updated("v1", None)
    assert served(loader) is None and builds.calls == []
    assert "sha256" in loader.replica.reranker_error


async def test_a_prepared_model_is_swapped_in_without_loading_it_again(monkeypatch):
    loader, builds = make_loader(monkeypatch)
    await loader.prepare("v1", "a" * 64)
    assert served(loader) is None and loader.replica.info().reranker_prepared == "v1"
    await loader.updated("v1", "a" * 64)
    assert served(loader) == "v1" and builds.calls == ["v1"]
    assert loader.replica.info().reranker_prepared is None


async def test_a_promotion_during_the_prepare_of_that_model_waits_for_it(monkeypatch):
    loader, builds = make_loader(monkeypatch)
    builds.holds["v1"] = asyncio.Event()
    preparing = asyncio.create_task(loader.prepare("v1", "a" * 64))
    await asyncio.sleep(0.01)
    updating = asyncio.create_task(loader.updated("v1", "a" * 64))
    await asyncio.sleep(0.01)
    assert served(loader) is None
    builds.holds["v1"].set()
    await asyncio.gather(preparing, updating)
    assert served(loader) == "v1" and builds.calls == ["v1"]


async def test_a_prepared_model_with_another_sha256_is_not_served(monkeypatch):
    loader, builds = make_loader(monkeypatch)
    await loader.prepare("v1", "a" * 64)
    await loader.updated("v1", "b" * 64)
    assert builds.calls == ["v1", "v1"] and loader.replica.reranker.sha256 == "b" * 64


async def test_the_poll_follows_the_pointer_and_skips_a_refused_artifact(monkeypatch, pointer):
    loader, builds = make_loader(monkeypatch)
    await loader.sync()
    assert served(loader) is None and builds.calls == []
    pointer["model"] = ModelPointer(version="v1", sha256="a" * 64, promoted_at=1.0)
    await loader.sync()  # a missed broadcast
    assert served(loader) == "v1"
    builds.failures["v2"] = ArtifactError("v2: sha256 mismatch model.int8.onnx")
    pointer["model"] = ModelPointer(version="v2", sha256="b" * 64, promoted_at=2.0, previous=["v1"])
    await loader.sync()
    await loader.sync()  # refused once: not downloaded again every interval
    assert builds.calls == ["v1", "v2"] and served(loader) == "v1"
    pointer["model"] = None  # rolled back to no reranker, broadcast missed
    await loader.sync()
    assert served(loader) is None


async def test_the_poll_runs_every_reload_interval(monkeypatch, pointer):
    loader, _ = make_loader(monkeypatch, reranker_reload_interval=0.05)
    pointer["model"] = ModelPointer(version="v1", sha256="a" * 64, promoted_at=1.0)
    task = asyncio.create_task(loader.poll())
    try:
        for _ in range(100):
            if served(loader) == "v1":
                break
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert served(loader) == "v1"


def write_model(directory: Path, version: str) -> Path:
    directory.mkdir(parents=True)
    (directory / "model.int8.onnx").write_text("weights")
    (directory / MANIFEST).write_text(json.dumps({"version": version, "files": file_hashes(directory)}))
    return directory


async def test_a_local_model_path_is_served_and_not_replaced(monkeypatch, tmp_path, pointer):
    path = write_model(tmp_path / "offline", "cross-encoder-codesift-20260101-000000")

    def build(model_dir, version, sha256, max_length=None, batch_size=1):
        return LoadedReranker(version=version, sha256=sha256, scorer=None)  # type: ignore[arg-type]

    monkeypatch.setattr(model_loader, "build_reranker", build)
    loader, builds = make_loader(monkeypatch, reranker_model_path=str(path))
    pointer["model"] = ModelPointer(version="v9", sha256="a" * 64, promoted_at=1.0)
    await loader.start()
    assert served(loader) == "cross-encoder-codesift-20260101-000000"
    await loader.updated("v9", "a" * 64)
    await loader.sync()
    assert served(loader) == "cross-encoder-codesift-20260101-000000" and builds.calls == []


@pytest.mark.parametrize("damage", ["missing", "tampered"])
async def test_a_bad_local_model_path_fails_start_up_naming_the_variable(monkeypatch, tmp_path, damage):
    path = tmp_path / "offline"
    if damage == "tampered":
        write_model(path, "v1")
        (path / "model.int8.onnx").write_bytes(np.zeros(4).tobytes())
    loader, _ = make_loader(monkeypatch, reranker_model_path=str(path))
    with pytest.raises(RerankerConfigError, match=f"CODESIFT_RERANKER_MODEL_PATH={path}: "):
        await loader.start()


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("CODESIFT_RERANKER_BACKEND", "torch", "Invalid enum value 'torch'"),
        ("CODESIFT_RERANKER_TOPN", "0", "Expected `int` >= 1"),
        ("CODESIFT_RERANKER_MAX_LENGTH", "4096", "Expected `int` <= 512"),
        ("CODESIFT_RERANKER_RELOAD_INTERVAL", "0", "Expected `float` > 0"),
    ],
)
def test_a_bad_reranker_setting_fails_naming_the_variable(variable, value, complaint):
    with pytest.raises(SettingsError, match=f"{variable}='{value}': {re.escape(complaint)}"):
        from_env(SearchSettings, {variable: value})


def test_reranker_settings_default_to_the_served_configuration():
    served = from_env(SearchSettings, {"CODESIFT_RERANKER_MAX_LENGTH": "128"})
    assert served.reranker_backend == "onnxruntime" and served.reranker_max_length == 128
    assert served.reranker_topn == 20
    assert (served.reranker_reload_interval, served.reranker_cache_size) == (60.0, 50_000)


async def test_each_model_change_is_timed_by_outcome(monkeypatch):
    loader, builds = make_loader(monkeypatch)
    name = "codesift_reranker_load_seconds_count"
    before = {outcome: sample(name, replica="r1", outcome=outcome) for outcome in ("ok", "failed")}
    await loader.updated("v1", "a" * 64)
    builds.failures["v2"] = RuntimeError("download failed")
    await loader.updated("v2", "b" * 64)
    await loader.updated("v1", "a" * 64)  # already served: no change, nothing timed
    moved = {outcome: sample(name, replica="r1", outcome=outcome) - before[outcome] for outcome in before}
    assert moved == {"ok": 1, "failed": 1}
