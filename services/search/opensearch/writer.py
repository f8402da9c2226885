"""The OpenSearch backend's writer (`services.search.backend.IndexStore`).

Indexing a repository writes a new versioned index (opensearch-py's `helpers.bulk`), refreshes
it, then moves the repository's alias and the read alias to it in one `update_aliases` call, so a
search sees the old chunks or the new ones, never a mix; the old index is deleted after. Vectors
are reused as the embedded indexer reuses them: the current index's `embed_key` → `vector` are
read first, and only chunks whose embedded text changed go to the embedder.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from opensearchpy import NotFoundError, OpenSearch, helpers

from services.search.backend import NothingToIndex, Progress
from services.search.documents import Chunk
from services.search.embedding import Embedder
from services.search.index import file_kinds
from services.search.indexer import (
    DONE,
    EMBED_END,
    IndexStats,
    _Reporter,
    embed_key,
    embed_missing,
    embed_text,
    make_stats,
    read_chunks,
)
from services.search.opensearch.mapping import VECTOR_FIELD, bm25_values, index_body
from services.search.opensearch.names import is_version_of, new_index_name, read_alias, repo_alias
from services.search.opensearch.queries import (
    PIPELINE_NORMALIZED,
    PIPELINE_RRF,
    normalized_pipeline,
    rrf_pipeline,
)
from services.search.opensearch.reader import OpenSearchIndex
from services.search.settings import SearchSettings

log = logging.getLogger("codesift.indexer")
BULK_CHUNK = 500  # documents per bulk request (384 floats each: ~2 MB)


def doc_key(repo: str, doc_id: str) -> str:
    """A chunk's `_id`: unique across repositories, short whatever the path's length."""
    return hashlib.sha1(f"{repo}\0{doc_id}".encode("utf-8", "surrogatepass")).hexdigest()


def chunk_source(chunk: Chunk, ordinal: int, file_kind: str, key: str, vector: Sequence[float]) -> dict:
    """The document of one chunk: every field the mapping has."""
    return {
        "repo": chunk.repo,
        "doc_id": chunk.doc_id,
        "path": chunk.path,
        "start_line": chunk.start_line,
        "end_line": chunk.end_line,
        "ordinal": ordinal,
        "language": chunk.language,
        "chunk_kind": chunk.kind,
        "file_kind": file_kind,
        "symbol": chunk.symbol,
        "content_hash": chunk.content_hash,
        "embed_key": key,
        "text": chunk.text,
        "bm25": bm25_values(chunk.text, chunk.path),
        VECTOR_FIELD: [float(x) for x in vector],
    }


def bulk_actions(
    index: str, chunks: Sequence[Chunk], kinds: Sequence[str], keys: Sequence[str], vectors: np.ndarray
) -> Iterator[dict]:
    for ordinal, (chunk, kind, key) in enumerate(zip(chunks, kinds, keys, strict=True)):
        yield {
            "_op_type": "index",
            "_index": index,
            "_id": doc_key(chunk.repo, chunk.doc_id),
            "_source": chunk_source(chunk, ordinal, kind, key, vectors[ordinal]),
        }


def swap_actions(alias: str, read: str, new: str, holders: dict[str, Sequence[str]]) -> list[dict]:
    """One atomic alias change: `alias` and `read` leave the indexes holding them, join `new`."""
    actions: list[dict] = [
        {"remove": {"index": index, "alias": name}}
        for index, names in sorted(holders.items())
        for name in (alias, read)
        if name in names
    ]
    actions += [{"add": {"index": new, "alias": alias}}, {"add": {"index": new, "alias": read}}]
    return actions


class OpenSearchStore:
    def __init__(self, client: OpenSearch, settings: SearchSettings):
        self.client = client
        self.settings = settings
        self.prefix = settings.opensearch_index_prefix
        self.read = read_alias(self.prefix)

    # ------------------------------------------------------------------ what is there

    def versions(self, alias: str) -> dict[str, list[str]]:
        """The versioned indexes of a repository alias → the aliases each holds (none: an orphan)."""
        found = self.client.indices.get_alias(index=f"{alias}-v*", params={"allow_no_indices": "true"})
        return {
            index: sorted(info.get("aliases", {}))
            for index, info in found.items()
            if is_version_of(index, alias)
        }

    def known_vectors(self, alias: str, dim: int) -> dict[str, np.ndarray]:
        """embed_key → vector of the repository's current index (empty when it has none)."""
        known: dict[str, np.ndarray] = {}
        try:
            for hit in helpers.scan(
                self.client, index=alias, query={"_source": ["embed_key", VECTOR_FIELD]}, size=1000
            ):
                vector = np.asarray(hit["_source"][VECTOR_FIELD], dtype=np.float32)
                if len(vector) != dim:
                    raise ValueError(
                        f"the OpenSearch index {alias} holds {len(vector)}-d vectors, the embedder makes "
                        f"{dim}-d ones: index every repository again from scratch"
                    )
                known[hit["_source"]["embed_key"]] = vector
        except NotFoundError:
            pass
        return known

    # ------------------------------------------------------------------ IndexStore

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
        started = time.perf_counter()
        report = _Reporter(progress)
        files, chunks, skipped = read_chunks(
            root, name, report, max_file_bytes=max_file_bytes, max_files=max_files
        )
        if not chunks:
            raise NothingToIndex(f"nothing to index under {root} (no text files found)")
        alias = repo_alias(self.prefix, name)
        texts = [embed_text(c) for c in chunks]
        keys = [embed_key(t, embedder.identity) for t in texts]
        known = self.known_vectors(alias, embedder.dim)
        fresh = embed_missing(keys, texts, known, embedder, report, f"{len(chunks)} chunks in {files} files")
        vectors = np.stack([known[key] for key in keys]).astype(np.float32, copy=False)

        report(EMBED_END, "writing the OpenSearch index", force=True)
        holders = self.versions(alias)
        new = new_index_name(alias)
        body = index_body(embedder.dim, self.settings.opensearch_shards, self.settings.opensearch_replicas)
        self.client.indices.create(index=new, body=body)
        try:
            helpers.bulk(
                self.client,
                bulk_actions(new, chunks, file_kinds(chunks), keys, vectors),
                chunk_size=BULK_CHUNK,
            )
            self.client.indices.refresh(index=new)
            self.client.indices.update_aliases(body={"actions": swap_actions(alias, self.read, new, holders)})
        except Exception:
            self.client.indices.delete(index=new, params={"ignore_unavailable": "true"})
            raise
        if holders:  # no search reaches them now: the aliases have moved
            self.client.indices.delete(index=",".join(sorted(holders)), params={"ignore_unavailable": "true"})
        stats = make_stats(files, len(chunks), len(fresh), started, skipped)
        report(
            DONE,
            f"indexed {len(chunks)} chunks of {name!r} into {new} ({stats.embedded} embedded)",
            force=True,
        )
        return stats

    def delete_repository(self, name: str) -> None:
        versions = self.versions(repo_alias(self.prefix, name))
        if versions:
            self.client.indices.delete(
                index=",".join(sorted(versions)), params={"ignore_unavailable": "true"}
            )

    def reader(self) -> OpenSearchIndex | None:
        index = OpenSearchIndex.open(self.client, self.settings)
        return index if index.chunk_count() else None

    def put_pipelines(self) -> None:
        """The two server-side fusion pipelines the hybrid mode and bench/opensearch.py use."""
        self.client.search_pipeline.put(id=PIPELINE_RRF, body=rrf_pipeline())
        self.client.search_pipeline.put(id=PIPELINE_NORMALIZED, body=normalized_pipeline())
