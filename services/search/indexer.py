"""Index one repository into the search index, reusing every vector it can.

Each chunk is embedded as `"{path}\\n{text}"`: the path says what the code is about when the code
alone does not ("auth/oauth.py" above a ten-line function). Its vector is cached under the sha1 of
exactly that text, so a vector is reused only when the embedder would have been given the same
input: an unchanged chunk is never re-embedded, while a moved file is, because its text changed.
Chunks of other repositories are carried over as they are.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from services.search.backend import NothingToIndex
from services.search.chunking import chunk_file
from services.search.documents import Chunk
from services.search.embedding import Embedder
from services.search.files import walk_repository
from services.search.index import SearchIndex

Progress = Callable[[float, str], None]
EMBED_SLICE = 256  # texts per Embedder.embed call: progress granularity, not batch size
REPORT_EVERY_S = 0.5
# Share of the progress bar each phase takes (reading files, embedding, building BM25).
READ_END, EMBED_END, DONE = 0.05, 0.9, 0.95


@dataclass(frozen=True, slots=True)
class IndexStats:
    files: int
    chunks: int  # chunks of this repository
    embedded: int  # texts sent to the embedder
    reused: int  # chunks whose vector came from the previous index (or a twin in this run)
    seconds: float
    chunks_per_second: float  # chunks / seconds, the whole run
    # what the walk left out, by reason (services.search.files): link_outside, too_large, over_max_files
    skipped: dict[str, int] = field(default_factory=dict)


def embed_text(chunk: Chunk) -> str:
    """What the embedder sees for a chunk (see the module docstring)."""
    return f"{chunk.path}\n{chunk.text}"


def embed_key(text: str, embedder_identity: str = "") -> str:
    """The cache key of a vector: the embedded text and the embedder that made it.

    With the embedder's identity in the key, switching models (or int8/fp32) re-embeds everything
    instead of mixing vectors from two models in one index.
    """
    return hashlib.sha1(f"{embedder_identity}\n{text}".encode("utf-8", "replace")).hexdigest()


class _Reporter:
    """Calls `progress` at phase boundaries and at most every REPORT_EVERY_S in between."""

    def __init__(self, progress: Progress | None):
        self.progress = progress
        self.last = 0.0

    def __call__(self, fraction: float, message: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.progress is not None and (force or now - self.last >= REPORT_EVERY_S):
            self.last = now
            self.progress(fraction, message)


def read_chunks(
    root: Path,
    name: str,
    report: Callable[..., None],
    *,
    max_file_bytes: int = 1_000_000,
    max_files: int | None = None,
) -> tuple[int, list[Chunk], dict[str, int]]:
    """The chunks of the files under `root`, as repository `name`; files read; skips by reason."""
    report(0.0, f"reading {root}", force=True)
    files, chunks = 0, []
    skipped: Counter[str] = Counter()
    for source in walk_repository(root, max_file_bytes=max_file_bytes, max_files=max_files, skipped=skipped):
        files += 1
        for chunk in chunk_file(source):
            chunk.repo = name
            chunks.append(chunk)
        report(0.0, f"read {files} files, {len(chunks)} chunks")
    return files, chunks, dict(sorted(skipped.items()))


def embed_missing(
    keys: list[str],
    texts: list[str],
    known: dict[str, np.ndarray],
    embedder: Embedder,
    report: Callable[..., None],
    summary: str,
) -> set[str]:
    """Embed each distinct text whose key is not in `known` (once), adding it there; those keys."""
    todo: dict[str, str] = {}  # key → text, each distinct new text once
    for key, text in zip(keys, texts, strict=True):
        if key not in known:  # new or changed text, or another repo's chunk made by another embedder
            todo.setdefault(key, text)
    report(READ_END, f"{summary}; {len(todo)} to embed", force=True)
    pending = sorted(todo.items(), key=lambda item: len(item[1]))  # similar lengths pad less
    for start in range(0, len(pending), EMBED_SLICE):
        part = pending[start : start + EMBED_SLICE]
        fresh = embedder.embed([text for _, text in part])
        known.update(zip((key for key, _ in part), fresh, strict=True))
        done = start + len(part)
        fraction = READ_END + (EMBED_END - READ_END) * done / len(pending)
        report(fraction, f"embedded {done}/{len(pending)} chunks", force=done == len(pending))
    return set(todo)


def index_repository(
    root: Path,
    name: str,
    previous: SearchIndex | None,
    embedder: Embedder,
    *,
    max_file_bytes: int = 1_000_000,
    max_files: int | None = None,
    progress: Progress | None = None,
) -> tuple[SearchIndex, IndexStats]:
    """Return `previous` with repository `name`'s chunks replaced by those found under `root`.

    At most `max_files` files are read; the stats count what the walk skipped, and why.
    """
    started = time.perf_counter()
    report = _Reporter(progress)
    files, chunks, skipped = read_chunks(
        root, name, report, max_file_bytes=max_file_bytes, max_files=max_files
    )

    old_chunks = previous.chunks if previous is not None else []
    if previous is not None and previous.vectors.shape[1] != embedder.dim:
        raise ValueError(
            f"the previous index holds {previous.vectors.shape[1]}-d vectors, the embedder makes "
            f"{embedder.dim}-d ones: index every repository again from scratch"
        )
    kept = [row for row, c in enumerate(old_chunks) if c.repo != name]
    kept_chunks = [old_chunks[row] for row in kept]
    texts = [embed_text(c) for c in kept_chunks + chunks]
    keys = [embed_key(t, embedder.identity) for t in texts]
    known: dict[str, np.ndarray] = {}
    if previous is not None:
        known = {key: previous.vectors[row] for row, key in enumerate(previous.embed_keys)}
    fresh = embed_missing(keys, texts, known, embedder, report, f"{len(chunks)} chunks in {files} files")
    embedded = len({key for key in keys[len(kept_chunks) :] if key in fresh})

    all_chunks = kept_chunks + chunks
    vectors = np.empty((len(all_chunks), embedder.dim), dtype=np.float32)
    for row, key in enumerate(keys):
        vectors[row] = known[key]
    report(EMBED_END, "building the BM25 index", force=True)
    index = SearchIndex.build(all_chunks, vectors, keys)
    stats = make_stats(files, len(chunks), embedded, started, skipped)
    report(DONE, f"indexed {len(chunks)} chunks of {name!r} ({stats.embedded} embedded)", force=True)
    return index, stats


def make_stats(files: int, chunks: int, embedded: int, started: float, skipped: dict[str, int]) -> IndexStats:
    seconds = time.perf_counter() - started
    return IndexStats(
        files=files,
        chunks=chunks,
        embedded=embedded,
        reused=chunks - embedded,
        seconds=round(seconds, 3),
        chunks_per_second=round(chunks / seconds, 1) if seconds > 0 else 0.0,
        skipped=skipped,
    )


class EmbeddedStore:
    """The embedded backend's writer (`services.search.backend.IndexStore`): the index in memory."""

    def __init__(self, current: SearchIndex | None = None):
        self.current = current

    def index_repository(
        self,
        root: Path,
        name: str,
        embedder: Embedder,
        *,
        max_file_bytes: int = 1_000_000,
        max_files: int | None = None,
        progress: Progress | None = None,
    ) -> IndexStats:
        index, stats = index_repository(
            root,
            name,
            self.current,
            embedder,
            max_file_bytes=max_file_bytes,
            max_files=max_files,
            progress=progress,
        )
        if stats.chunks == 0:
            raise NothingToIndex(f"nothing to index under {root} (no text files found)")
        self.current = index
        return stats

    def delete_repository(self, name: str) -> None:
        if self.current is not None:
            self.current = self.current.without(name)

    def reader(self) -> SearchIndex | None:
        return self.current
