"""The indexer's job: index one repository on an index command, publish the snapshot.

One indexer process consumes codesift.cmd.index from the COMMANDS stream (durable consumer), so jobs
run one at a time. It writes to the backend CODESIFT_INDEX_BACKEND names (`backend.IndexStore`):
embedded, it keeps the current index in memory and publishes it as a snapshot; OpenSearch, it
writes the repository's new index in the cluster and publishes only the pointer (replicas read
the cluster). Either way vectors of unchanged chunks are reused, so re-indexing an unchanged
repository embeds nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import msgspec
from nats.aio.client import Client
from nats.js import JetStreamContext

from services.search.backend import IndexStore, NothingToIndex
from services.search.embedding import Embedder
from services.search.index import SearchIndex
from services.search.indexer import EmbeddedStore
from services.search.settings import SearchSettings
from services.search.snapshots import current_pointer, fetch_snapshot, publish_pointer, publish_snapshot
from shared import subjects
from shared.jobs import JobReporter
from shared.paths import text_problem
from shared.schemas import IndexCommand, IndexUpdated, encoder
from shared.streams import Buckets

log = logging.getLogger("codesift.indexer")
KEEP_SNAPSHOTS = 2


class IndexJobError(RuntimeError):
    """An index command that cannot be carried out; the message says why."""


def open_store(settings: SearchSettings) -> IndexStore:
    if settings.index_backend == "opensearch":
        from services.search.opensearch.client import make_client  # only this backend needs it
        from services.search.opensearch.writer import OpenSearchStore

        return OpenSearchStore(make_client(settings), settings)
    return EmbeddedStore()


class Indexer:
    def __init__(self, settings: SearchSettings, embedder: Embedder):
        self.settings = settings
        self.embedder = embedder
        self.store: IndexStore = open_store(settings)

    @property
    def current(self) -> SearchIndex | None:
        """The embedded index in memory (None with OpenSearch, whose index is in the cluster)."""
        return self.store.current if isinstance(self.store, EmbeddedStore) else None

    async def restore(self, js: JetStreamContext) -> None:
        """Start from the published index, so its vectors are reused after a restart (embedded;
        OpenSearch reads the vectors of the repository's current index when it indexes it)."""
        if not isinstance(self.store, EmbeddedStore):
            if self.settings.opensearch_hybrid:  # the server-side fusion needs its search pipelines
                await asyncio.to_thread(self.store.put_pipelines)  # type: ignore[attr-defined]
            return
        pointer = await current_pointer(js)
        if pointer is not None:
            data = await fetch_snapshot(js, pointer)
            self.store.current = await asyncio.to_thread(SearchIndex.from_archive, data, pointer.version)
            log.info("restored index %s (%d chunks)", pointer.version, pointer.chunks)

    async def run(self, command: IndexCommand, nc: Client, js: JetStreamContext) -> dict[str, object]:
        reporter = JobReporter(nc, js, command.job_id, "index")
        root = Path(command.path)
        try:
            if (problem := text_problem(command.path)) is not None:
                raise IndexJobError(f"path: {command.path!r} {problem}")
            if not root.is_absolute():
                raise IndexJobError(f"path: {command.path!r} is not absolute")
            if not root.is_dir():
                raise IndexJobError(f"path: {command.path!r} is not a directory on the indexer's machine")
            await reporter.report("running", 0.0, f"indexing {root} as {command.name!r}")
            try:
                stats = await asyncio.to_thread(
                    self.store.index_repository,
                    root,
                    command.name,
                    self.embedder,
                    max_file_bytes=self.settings.max_file_bytes,
                    max_files=self.settings.max_files,
                    progress=reporter.threadsafe(asyncio.get_running_loop()),
                )
            except NothingToIndex as exc:
                raise IndexJobError(f"path: {exc}") from None
            version = f"index-{time.strftime('%Y%m%d-%H%M%S')}-{command.job_id[-8:]}"
            await reporter.report("running", 0.97, "publishing the index snapshot")
            event = await self._publish(js, version)
            await js.publish(subjects.INDEX_UPDATED, encoder.encode(event))
            result = msgspec.to_builtins(stats) | {"version": version, "repos": event.repos}
            await reporter.report("succeeded", 1.0, f"indexed {command.name!r}", result=result)
            return result
        except Exception as exc:
            message = str(exc) if isinstance(exc, IndexJobError) else f"{type(exc).__name__}: {exc}"
            log.exception("index job %s failed", command.job_id)
            await reporter.report("failed", 0.0, message)
            return {"error": message}

    async def _publish(self, js: JetStreamContext, version: str) -> IndexUpdated:
        """Embedded: the snapshot and the pointer to it. OpenSearch: the pointer alone."""
        index = await asyncio.to_thread(self.store.reader)
        if index is None:
            raise IndexJobError("index: nothing is indexed after the job")
        if not isinstance(index, SearchIndex):
            event = IndexUpdated(
                timestamp=time.time(),
                version=version,
                sha256="",
                chunks=index.chunk_count(),
                repos=index.repos(),
            )
            await publish_pointer(js, event)
            return event
        archive = await asyncio.to_thread(self._save, index)
        event = await publish_snapshot(js, version, archive, index.repos(), len(index.chunks))
        await self._prune(js, keep=version)
        return event

    def _save(self, index: SearchIndex) -> bytes:
        index.save(self.settings.data_dir / "index" / "current")
        return index.to_archive()

    async def _prune(self, js: JetStreamContext, keep: str) -> None:
        store = await js.object_store(Buckets.INDEXES)
        try:
            infos = await store.list()
        except Exception:  # an empty store answers "not found"
            return
        old = sorted((i for i in infos if i.name != keep and not i.deleted), key=lambda i: i.mtime or "")
        for info in old[: max(0, len(old) - (KEEP_SNAPSHOTS - 1))]:
            await store.delete(info.name)
