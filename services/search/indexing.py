"""The indexer's job: index one repository on an index command, publish the snapshot.

One indexer process consumes codesift.cmd.index from the COMMANDS stream (durable consumer), so jobs
run one at a time. It keeps the current index in memory: vectors of unchanged chunks are reused,
so re-indexing an unchanged repository embeds nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import msgspec
from nats.aio.client import Client
from nats.js import JetStreamContext

from services.search.embedding import Embedder
from services.search.index import SearchIndex
from services.search.indexer import index_repository
from services.search.settings import SearchSettings
from services.search.snapshots import current_pointer, fetch_snapshot, publish_snapshot
from shared import subjects
from shared.jobs import JobReporter
from shared.paths import text_problem
from shared.schemas import IndexCommand, encoder
from shared.streams import Buckets

log = logging.getLogger("codesift.indexer")
KEEP_SNAPSHOTS = 2


class IndexJobError(RuntimeError):
    """An index command that cannot be carried out; the message says why."""


class Indexer:
    def __init__(self, settings: SearchSettings, embedder: Embedder):
        self.settings = settings
        self.embedder = embedder
        self.current: SearchIndex | None = None

    async def restore(self, js: JetStreamContext) -> None:
        """Start from the published index, so its vectors are reused after a restart."""
        pointer = await current_pointer(js)
        if pointer is not None:
            data = await fetch_snapshot(js, pointer)
            self.current = await asyncio.to_thread(SearchIndex.from_archive, data, pointer.version)
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
            index, stats = await asyncio.to_thread(
                index_repository,
                root,
                command.name,
                self.current,
                self.embedder,
                max_file_bytes=self.settings.max_file_bytes,
                max_files=self.settings.max_files,
                progress=reporter.threadsafe(asyncio.get_running_loop()),
            )
            if not any(c.repo == command.name for c in index.chunks):
                raise IndexJobError(f"path: nothing to index under {root} (no text files found)")
            await reporter.report("running", 0.97, "publishing the index snapshot")
            version = f"index-{time.strftime('%Y%m%d-%H%M%S')}-{command.job_id[-8:]}"
            archive = await asyncio.to_thread(self._save, index)
            event = await publish_snapshot(js, version, archive, index.repos(), len(index.chunks))
            await js.publish(subjects.INDEX_UPDATED, encoder.encode(event))
            self.current = index
            await self._prune(js, keep=version)
            result = msgspec.to_builtins(stats) | {"version": version, "repos": index.repos()}
            await reporter.report("succeeded", 1.0, f"indexed {command.name!r}", result=result)
            return result
        except Exception as exc:
            message = str(exc) if isinstance(exc, IndexJobError) else f"{type(exc).__name__}: {exc}"
            log.exception("index job %s failed", command.job_id)
            await reporter.report("failed", 0.0, message)
            return {"error": message}

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
