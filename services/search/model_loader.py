"""Keeps a replica's reranker in step with the production pointer (KV `registry`, key "model").

Three ways a change arrives: the pointer read at start-up (and once more as soon as the replica
subscribes: a promotion broadcast during a start-up load of several seconds reached no one here),
the `codesift.model.updated` broadcast, and a poll of the pointer every
CODESIFT_RERANKER_RELOAD_INTERVAL seconds that catches a missed broadcast. Each loads the artifact
(download, sha256, manifest), builds and warms an onnxruntime session in a worker thread, and
only then swaps it in; a load that fails keeps what is served and reports why. Changes are
applied one at a time, reading the pointer under the same lock, so a slow load can never
overwrite a newer decision.

Downloading a full artifact takes seconds, so a replica prepares each newly trained model as
soon as `codesift.model.trained` announces it, and keeps the model it served before the current
one: promoting the announced model and rolling back are both a lookup, not a load.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from nats.js import JetStreamContext

from services.search.artifact_cache import fetch_artifact
from services.search.replica import Replica
from services.search.reranking import LoadedReranker, build_reranker
from services.search.settings import SearchSettings
from shared.artifacts import ArtifactError, read_manifest, verify_manifest
from shared.registry import read_model_pointer

log = logging.getLogger("codesift.search")
Key = tuple[str, str]  # (version, sha256 of the archive)


class RerankerConfigError(RuntimeError):
    """CODESIFT_RERANKER_MODEL_PATH names nothing a replica can serve."""


class RerankerLoader:
    def __init__(self, replica: Replica, js: JetStreamContext, settings: SearchSettings):
        self.replica = replica
        self.js = js
        self.settings = settings
        self.cache_dir = settings.cache_dir / "models"
        self.pinned = bool(settings.reranker_model_path)  # a local model, served whatever the registry says
        self._lock = asyncio.Lock()
        self._loads: dict[Key, asyncio.Task[LoadedReranker]] = {}  # at most one: the latest asked for
        self._refused: set[Key] = set()  # artifacts that failed verification: the poll does not retry
        self._previous: LoadedReranker | None = None  # served before the current one: a rollback is instant

    # ------------------------------------------------------------------ entry points

    async def start(self) -> None:
        """At start-up: the local model when one is named, else whatever the pointer says."""
        if self.pinned:
            self.replica.swap_reranker(await asyncio.to_thread(self._local_model))
            log.info("%s serves %s (pinned)", self.replica.replica_id, self.replica.reranker_label())
        else:
            await self.sync()

    async def sync(self) -> None:
        """Serve what the pointer names (start-up and the safety poll)."""
        if self.pinned:
            return
        async with self._lock:
            pointer = await read_model_pointer(self.js)
            self.replica.reranker_checked_at = time.time()
            key = (pointer.version, pointer.sha256) if pointer else None
            if key in self._refused:
                return
            await self._apply(key)

    async def subscribed(self) -> None:
        """Once `codesift.model.updated` is subscribed: serve what the pointer names now.

        The start-up read came before the subscription; a promotion broadcast in between would
        otherwise wait for the poll (60 s by default).
        """
        try:
            await self.sync()
        except Exception as exc:  # the bus is down: the poll tries again
            log.warning("%s could not read the model pointer: %s", self.replica.replica_id, exc)

    async def updated(self, version: str | None, sha256: str | None) -> None:
        """A `codesift.model.updated` broadcast: serve `version` (None: no reranker)."""
        if self.pinned:
            log.info("%s ignores the update to %s: its model is pinned", self.replica.replica_id, version)
            return
        async with self._lock:
            self.replica.reranker_checked_at = time.time()
            if version is not None and sha256 is None:
                self._failed(version, "the update names no sha256; refused")
                return
            await self._apply((version, sha256) if version is not None and sha256 is not None else None)

    async def prepare(self, version: str, sha256: str) -> None:
        """A newly trained model: download, verify and warm it now, so promoting it is instant."""
        current = self.replica.reranker
        if self.pinned or (current is not None and (current.version, current.sha256) == (version, sha256)):
            return
        try:
            await self._load((version, sha256))
        except Exception as exc:
            log.warning("%s could not prepare %s: %s", self.replica.replica_id, version, exc)
            return
        if (version, sha256) in self._loads:  # not superseded, nor served already
            self.replica.reranker_prepared = version
            log.info("%s prepared %s", self.replica.replica_id, version)

    async def load_candidate(self, version: str, sha256: str) -> LoadedReranker:
        """The model an online experiment interleaves with production: the one served or prepared
        when it is either, else loaded (it then stays the prepared model)."""
        current = self.replica.reranker
        if current is not None and (current.version, current.sha256) == (version, sha256):
            return current
        loaded = await self._load((version, sha256))
        if (version, sha256) in self._loads:
            self.replica.reranker_prepared = version
        return loaded

    async def poll(self) -> None:
        """Check the pointer every reload interval, for ever (run it as a task)."""
        while True:
            await asyncio.sleep(self.settings.reranker_reload_interval)
            try:
                await self.sync()
            except Exception as exc:  # the bus is down: try again next time
                log.warning("%s could not read the model pointer: %s", self.replica.replica_id, exc)

    # ------------------------------------------------------------------ internals

    async def _apply(self, key: Key | None) -> None:
        current = self.replica.reranker
        if key is None:
            if current is not None:
                self.replica.swap_reranker(None)
                self._previous = current
                log.info("%s serves no reranker (was %s)", self.replica.replica_id, current.version)
            return
        if current is not None and (current.version, current.sha256) == key:
            return
        began = time.perf_counter()
        log.info("%s loads %s", self.replica.replica_id, key[0])
        try:
            loaded = await self._load(key)
        except Exception as exc:
            if isinstance(exc, ArtifactError):
                self._refused.add(key)
            self._failed(key[0], str(exc) or type(exc).__name__)
            self._measured("failed", began)
            return
        self._measured("ok", began)
        self.replica.swap_reranker(loaded)
        if current is not None:
            self._previous = current
        if self._loads.pop(key, None) is not None:  # served now: the replica holds it, nothing else
            self.replica.reranker_prepared = None
        seconds = time.perf_counter() - began
        log.info("%s serves %s (loaded in %.3f s)", self.replica.replica_id, loaded.version, seconds)

    def _measured(self, outcome: str, began: float) -> None:
        """A model change took this long, from the decision to serve it (a prepared one: ~0 s)."""
        if self.replica.metrics is not None:
            self.replica.metrics.loaded(outcome, time.perf_counter() - began)

    def _failed(self, version: str, why: str) -> None:
        self.replica.reranker_error = f"{version}: {why}"
        log.error(
            "%s did not load %s, still serving %s: %s",
            self.replica.replica_id,
            version,
            self.replica.reranker_label(),
            why,
        )

    async def _load(self, key: Key) -> LoadedReranker:
        """One load per artifact at a time: a promotion during the prepare of the same model waits for it."""
        previous = self._previous
        if previous is not None and (previous.version, previous.sha256) == key:
            return previous
        task = self._loads.get(key)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = asyncio.create_task(self._build(*key))
            self._loads = {key: task}  # an older prepared model is dropped with its session
            self.replica.reranker_prepared = None
        return await asyncio.shield(task)

    async def _build(self, version: str, sha256: str) -> LoadedReranker:
        directory = await fetch_artifact(self.js, version, sha256, self.cache_dir)
        return await asyncio.to_thread(build_reranker, directory, version, sha256, *self._scoring)

    @property
    def _scoring(self) -> tuple[int | None, int]:
        return self.settings.reranker_max_length, self.settings.reranker_batch_size

    def _local_model(self) -> LoadedReranker:
        path = Path(self.settings.reranker_model_path).expanduser()
        try:
            verify_manifest(path)
            version = str(read_manifest(path).get("version") or path.name)
            return build_reranker(path, version, None, *self._scoring)
        except Exception as exc:
            raise RerankerConfigError(f"CODESIFT_RERANKER_MODEL_PATH={path}: {exc}") from None
