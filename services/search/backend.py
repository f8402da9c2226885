"""The retrieval backend interface: what replicas search and what the indexer writes.

Two backends implement it: the embedded index inside each replica (`index.SearchIndex`, written
by `indexer.EmbeddedStore`) and an OpenSearch cluster (`opensearch.reader.OpenSearchIndex`,
written by `opensearch.writer.OpenSearchStore`), chosen by CODESIFT_INDEX_BACKEND. Both answer a
query with the same records, fused the same way (BM25 top `depth` and vector top `depth`, RRF
with k=60), so rankers see the same features whichever backend served them.
tests/contract/test_backends.py runs the same tests against both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from services.search.documents import Chunk

if TYPE_CHECKING:
    from services.search.embedding import Embedder
    from services.search.indexer import IndexStats

Progress = Callable[[float, str], None]


class NothingToIndex(ValueError):
    """A repository without a single chunk: refused, and the index is left as it was."""


@dataclass(frozen=True, slots=True)
class Retrieved:
    """One fused result. Ranks are 1-based and None when the retriever's top `depth` missed it;
    scores are the chunk's own BM25 score (0 when no query token occurs) and cosine either way."""

    index: int  # embedded: position in SearchIndex.chunks; OpenSearch: a number unique in the answer
    fusion_rank: int
    fusion_score: float
    bm25_rank: int | None
    bm25_score: float
    vector_rank: int | None
    vector_score: float
    chunk: Chunk
    file_kind: str  # shared.filekinds, judged on the chunk's whole file


class RetrievalBackend(Protocol):
    """What a replica serves: one version of the index of every repository."""

    version: str

    def repos(self) -> dict[str, int]:
        """Repository name → number of chunks."""
        ...

    def chunk_count(self) -> int: ...

    def retrieve(
        self, query: str, query_vector: np.ndarray, k: int, repo: str | None = None, depth: int = 100
    ) -> list[Retrieved]:
        """BM25 top `depth` and vector top `depth` (within `repo`), fused by RRF; the first k."""
        ...

    def documents(
        self, repo: str, doc_ids: list[str] | None = None, offset: int = 0, limit: int = 1000
    ) -> tuple[int, list[Chunk]]:
        """The chunks of `repo` named in `doc_ids` (in indexing order), or the page
        [offset, offset + limit) of all of them; and how many chunks `repo` has."""
        ...


class IndexStore(Protocol):
    """What the indexer writes to: index or delete one repository, keeping the others."""

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
        """Replace repository `name` by what is under `root`; unchanged chunks are not re-embedded.

        Raises NothingToIndex, changing nothing, when `root` holds no chunk."""
        ...

    def delete_repository(self, name: str) -> None: ...

    def reader(self) -> RetrievalBackend | None:
        """What replicas would serve now (None: nothing indexed)."""
        ...
