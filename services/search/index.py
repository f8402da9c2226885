"""The embedded search index: chunks, their vectors and a BM25 index, retrieved by fusion.

A replica answers a query with BM25 over code-aware tokens and exact cosine search over the
chunk vectors, both restricted to one repository when asked, fused by reciprocal rank. On disk
an index is a directory (`chunks.json`, `vectors.npy`, `bm25/`); in the object store it is the
same files as a tar.gz whose bytes depend only on the content.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
from collections import Counter
from pathlib import Path

import msgspec
import numpy as np

from services.search.backend import Retrieved
from services.search.bm25 import BM25Index
from services.search.documents import Chunk
from services.search.fusion import rrf
from services.search.vectors import top_k
from shared.archives import extract
from shared.filekinds import file_kind
from shared.tokens import code_tokens, path_tokens, query_tokens

RRF_K = 60
# Path tokens 0/1/2/3 times, measured with bench/golden_transformers.json (117 questions, 10,572
# chunks of transformers): BM25 MRR@10 0.744/0.780/0.794/0.812, fusion 0.839/0.835/0.838/0.832.
# Fusion barely moves (the embedded text holds the path too); BM25 alone, a ranking feature,
# gains. Twice is the middle ground: the golden questions were written knowing the file names.
PATH_REPEAT = 2
FORMAT = 1
CHUNKS_FILE, VECTORS_FILE, BM25_DIR = "chunks.json", "vectors.npy", "bm25"


class IndexFormatError(ValueError):
    """A saved index this code cannot read, or parts that do not fit together."""


class _Saved(msgspec.Struct):
    format: int
    version: str
    chunks: list[Chunk]
    embed_keys: list[str]


def bm25_tokens(chunk: Chunk) -> list[str]:
    """What BM25 indexes for a chunk: its code tokens and, PATH_REPEAT times, its path's tokens."""
    return code_tokens(chunk.text) + path_tokens(chunk.path) * PATH_REPEAT


def content_version(chunks: list[Chunk], embed_keys: list[str]) -> str:
    """A short hash of what the index holds: equal for equal content, whoever built it."""
    digest = hashlib.sha256()
    for chunk, key in zip(chunks, embed_keys, strict=True):
        digest.update(f"{chunk.repo}\0{chunk.doc_id}\0{chunk.content_hash}\0{key}\n".encode())
    return digest.hexdigest()[:16]


def file_kinds(chunks: list[Chunk]) -> list[str]:
    """The kind of the file each chunk comes from (`shared.filekinds`), judged on the whole file:
    a generator's header or a test module's imports are in one chunk but describe them all."""
    by_file: dict[tuple[str, str], list[int]] = {}
    for i, chunk in enumerate(chunks):
        by_file.setdefault((chunk.repo, chunk.path), []).append(i)
    kinds = [""] * len(chunks)
    for (_, path), members in by_file.items():
        members.sort(key=lambda i: chunks[i].start_line)
        kind = file_kind(path, "\n".join(chunks[i].text for i in members))
        for i in members:
            kinds[i] = kind
    return kinds


class SearchIndex:
    """The embedded backend (`services.search.backend.RetrievalBackend`)."""

    def __init__(
        self,
        chunks: list[Chunk],
        vectors: np.ndarray,
        bm25: BM25Index,
        embed_keys: list[str],
        version: str,
    ):
        if not (len(chunks) == len(vectors) == len(bm25) == len(embed_keys)):
            raise IndexFormatError(
                f"parts differ in length: {len(chunks)} chunks, {len(vectors)} vectors, "
                f"{len(bm25)} BM25 documents, {len(embed_keys)} embedding keys"
            )
        self.chunks = chunks
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.bm25 = bm25
        self.embed_keys = embed_keys
        self.version = version
        names = sorted({c.repo for c in chunks})
        self._repo_codes = {name: code for code, name in enumerate(names)}
        self._chunk_repo = np.array([self._repo_codes[c.repo] for c in chunks], dtype=np.int32)
        self._repo_counts = dict(sorted(Counter(c.repo for c in chunks).items()))

    @functools.cached_property
    def file_kinds(self) -> list[str]:
        """The file kind of each chunk; computed when a replica first needs it, not by the indexer."""
        return file_kinds(self.chunks)

    @classmethod
    def build(cls, chunks: list[Chunk], vectors: np.ndarray, embed_keys: list[str]) -> SearchIndex:
        bm25 = BM25Index.build([bm25_tokens(c) for c in chunks])
        return cls(chunks, vectors, bm25, embed_keys, content_version(chunks, embed_keys))

    # ------------------------------------------------------------------ repositories

    def repos(self) -> dict[str, int]:
        """Repository name → number of chunks."""
        return dict(self._repo_counts)

    def repo_mask(self, repo: str | None) -> np.ndarray | None:
        """Boolean mask of the chunks of `repo` (all False for an unknown one); None for all repos."""
        if repo is None:
            return None
        code = self._repo_codes.get(repo)
        if code is None:
            return np.zeros(len(self.chunks), dtype=bool)
        return self._chunk_repo == code

    # ------------------------------------------------------------------ retrieval

    def retrieve(
        self, query: str, query_vector: np.ndarray, k: int, repo: str | None = None, depth: int = 100
    ) -> list[Retrieved]:
        """BM25 top `depth` and vector top `depth` (within `repo`), fused by RRF; the first k."""
        mask = self.repo_mask(repo)
        bm25_scores = self.bm25.scores(query_tokens(query))
        vector_scores = self.vectors @ np.asarray(query_vector, dtype=np.float32)
        bm25_hits = [doc for doc, _ in top_k(bm25_scores, depth, mask, positive=True)]
        vector_hits = [doc for doc, _ in top_k(vector_scores, depth, mask)]
        bm25_rank = {doc: rank for rank, doc in enumerate(bm25_hits, start=1)}
        vector_rank = {doc: rank for rank, doc in enumerate(vector_hits, start=1)}
        chunks, kinds = self.chunks, self.file_kinds
        return [
            Retrieved(
                index=doc,
                fusion_rank=rank,
                fusion_score=score,
                bm25_rank=bm25_rank.get(doc),
                bm25_score=float(bm25_scores[doc]),
                vector_rank=vector_rank.get(doc),
                vector_score=float(vector_scores[doc]),
                chunk=chunks[doc],
                file_kind=kinds[doc],
            )
            for rank, (doc, score) in enumerate(rrf([bm25_hits, vector_hits], k=RRF_K)[:k], start=1)
        ]

    def chunk_count(self) -> int:
        return len(self.chunks)

    def documents(
        self, repo: str, doc_ids: list[str] | None = None, offset: int = 0, limit: int = 1000
    ) -> tuple[int, list[Chunk]]:
        """The chunks of `repo` named in `doc_ids` (in index order), or the page [offset,
        offset + limit) of all of them; and how many chunks `repo` has."""
        chunks = [c for c in self.chunks if c.repo == repo]
        if doc_ids is not None:
            wanted = set(doc_ids)
            return len(chunks), [c for c in chunks if c.doc_id in wanted]
        return len(chunks), chunks[offset : offset + limit]

    def without(self, repo: str) -> SearchIndex:
        """This index less the chunks of `repo` (BM25 statistics recomputed)."""
        rows = [row for row, c in enumerate(self.chunks) if c.repo != repo]
        return SearchIndex.build(
            [self.chunks[row] for row in rows], self.vectors[rows], [self.embed_keys[row] for row in rows]
        )

    # ------------------------------------------------------------------ persistence

    def save(self, directory: Path) -> None:
        """Write the index to `directory`, replacing what is there only once it is complete."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-new-", dir=directory.parent))
        try:
            self._write(staging)
            if directory.exists():
                # POSIX cannot swap two directories in one step: move the old one aside first,
                # so the window without an index is two renames long and never shows a half one.
                retired = Path(tempfile.mkdtemp(prefix=f".{directory.name}-old-", dir=directory.parent))
                os.rename(directory, retired / "index")
                os.rename(staging, directory)
                shutil.rmtree(retired, ignore_errors=True)
            else:
                os.rename(staging, directory)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _write(self, directory: Path) -> None:
        saved = _Saved(FORMAT, self.version, self.chunks, self.embed_keys)
        (directory / CHUNKS_FILE).write_bytes(msgspec.json.encode(saved))
        np.save(directory / VECTORS_FILE, self.vectors, allow_pickle=False)
        self.bm25.save(directory / BM25_DIR)

    @classmethod
    def load(cls, directory: Path) -> SearchIndex:
        directory = Path(directory)
        try:
            saved = msgspec.json.decode((directory / CHUNKS_FILE).read_bytes(), type=_Saved)
        except msgspec.ValidationError as exc:
            raise IndexFormatError(f"{directory / CHUNKS_FILE}: {exc}") from None
        if saved.format != FORMAT:
            raise IndexFormatError(f"{directory}: index format {saved.format}, this code reads {FORMAT}")
        vectors = np.load(directory / VECTORS_FILE, allow_pickle=False)
        bm25 = BM25Index.load(directory / BM25_DIR)
        return cls(saved.chunks, vectors, bm25, saved.embed_keys, saved.version)

    def to_archive(self) -> bytes:
        """The saved files as a tar.gz; equal indexes give equal bytes (sorted names, no times)."""
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            self._write(root)
            buffer = io.BytesIO()
            with (
                gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=1, mtime=0) as gz,
                tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
            ):
                for path in sorted(p for p in root.rglob("*") if p.is_file()):
                    info = tarfile.TarInfo(path.relative_to(root).as_posix())
                    info.size = path.stat().st_size
                    info.mode = 0o644
                    with path.open("rb") as f:
                        tar.addfile(info, f)
            return buffer.getvalue()

    @classmethod
    def from_archive(cls, data: bytes, name: str = "index snapshot") -> SearchIndex:
        """The index in a snapshot archive; every member is checked first (`shared.archives`).

        Raises ArchiveError (a `..`, absolute, link or device member, or past the size and member
        limits) before anything is written, naming `name` (the snapshot's version) and the member.
        """
        with tempfile.TemporaryDirectory() as tmp:
            extract(data, Path(tmp), name)
            return cls.load(Path(tmp))
