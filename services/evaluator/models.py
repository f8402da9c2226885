"""Finding the models to evaluate: in the models directory, else in the object store `models`.

A model named by a request must resolve inside the models directory (`resolve_model_path`). A
model this machine does not hold (the evaluator runs elsewhere than the trainer) is downloaded
into the cache, its archive checked against the sha256 the trainer announced or the production
pointer records (the object store's own digest when neither is known), and every file against
its manifest.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError, ObjectNotFoundError

from services.evaluator.errors import EvaluationError
from shared.artifacts import (
    VERSION_PREFIX,
    ArtifactError,
    ModelPathError,
    fetch_model,
    read_manifest,
    resolve_model_path,
    verify_manifest,
)
from shared.registry import read_model_pointer
from shared.streams import Buckets


@dataclass(frozen=True)
class Model:
    version: str
    path: Path  # a verified model directory
    manifest: dict[str, Any]

    @property
    def triplets(self) -> int:
        """Training triplets the model was trained on (all sources)."""
        by_source = self.manifest.get("triplets", {}).get("by_source", {})
        return sum(int(n) for n in by_source.values())


class ModelFinder:
    def __init__(self, js: JetStreamContext, models_dir: Path, cache_dir: Path):
        self.js, self.models_dir, self.cache_dir = js, models_dir, cache_dir

    async def named(self, value: str, sha256: str | None = None) -> Model:
        """The model `value` names (a version or a path inside the models directory).

        Raises shared.artifacts.ModelPathError for a path outside the models directory.
        """
        path = resolve_model_path(self.models_dir, value)
        if path.is_dir():
            manifest = await asyncio.to_thread(verify_manifest, path)
            return Model(path.name, path, manifest)
        digest = sha256 or await self._store_digest(path.name)
        fetched = await fetch_model(self.js, path.name, digest, self.cache_dir)  # verifies every file
        return Model(path.name, fetched, read_manifest(fetched))

    async def newest(self) -> Model:
        """The most recently trained model, here or in the object store."""
        local = {p.name for p in self.models_dir.glob(VERSION_PREFIX + "*") if p.is_dir()}
        versions = local | await self._stored_versions()
        if not versions:
            raise EvaluationError(
                f"no trained model in {self.models_dir} or the object store: run `codesift train` first",
                field="model_path",
            )
        return await self.named(max(versions))  # versions end in their UTC time, YYYYMMDD-HHMMSS

    async def production(self) -> Model | None:
        """The model the registry says is served, or None while search serves fusion order."""
        pointer = await read_model_pointer(self.js)
        if pointer is None:
            return None
        try:
            return await self.named(pointer.version, pointer.sha256)
        except (ArtifactError, EvaluationError, ModelPathError) as exc:
            raise EvaluationError(f"production model {pointer.version}: {exc}") from None

    async def _stored_versions(self) -> set[str]:
        store = await self.js.object_store(Buckets.MODELS)
        try:
            infos = await store.list(ignore_deletes=True)
        except NotFoundError:  # an empty store
            return set()
        return {info.name for info in infos if info.name.startswith(VERSION_PREFIX)}

    async def _store_digest(self, version: str) -> str:
        store = await self.js.object_store(Buckets.MODELS)
        try:
            info = await store.get_info(version)
        except ObjectNotFoundError:
            where = f"in {self.models_dir} or the object store"
            raise EvaluationError(f"model_path: no model {version!r} {where}", field="model_path") from None
        _, _, encoded = (info.digest or "").partition("=")  # "SHA-256=<urlsafe base64>"
        return base64.urlsafe_b64decode(encoded).hex()
