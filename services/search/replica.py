"""What a search replica does per request: decode, validate, retrieve, answer.

CPU work runs in a worker thread (the handlers call these methods through asyncio.to_thread), so
one slow query never stops a replica from answering pings. The index and the reranker are each
swapped by assigning one attribute: a request already running keeps those it started with.

With a reranker loaded, a search retrieves at least CODESIFT_RERANKER_TOPN candidates and
`reranking.rerank` orders the first N as the model says (`shared.ranking.served_order`: its
learned combiner over their features, with cross-encoder scores when it uses them, or the
fused-rank blend for a cross-encoder alone); candidates beyond the top N keep their fusion order.
A result's `score` is then 1 / (60 + served rank) for a combiner, the blended score for the blend
(two reciprocal-rank terms in the top N, one below it), otherwise its fusion score.

While an online experiment runs (`services/search/experiment.py`), a share of searches
(CODESIFT_INTERLEAVE_SHARE) ranks the same hits with production and with the candidate and shows
their team-draft interleaving (`shared.interleaving.team_draft`); each shown result keeps the
score its team gave it, and the impression records the team (`side`) and the experiment.

Each search is counted and its stages timed for Prometheus (`instruments.py`) unless
CODESIFT_METRICS=false, which also skips the clock readings.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from dataclasses import dataclass

import msgspec

from services.search.backend import RetrievalBackend, Retrieved
from services.search.embedding import Embedder
from services.search.index import SearchIndex
from services.search.instruments import SearchInstruments, StageTimes
from services.search.reranking import LoadedReranker, rerank
from services.search.score_cache import ScoreCache
from services.search.settings import SearchSettings
from shared import features
from shared.fingerprints import fingerprint
from shared.interleaving import team_draft
from shared.schemas import (
    Candidate,
    CandidatesReply,
    CandidatesRequest,
    CandidatesResponse,
    ChunkRecord,
    DocumentsReply,
    DocumentsRequest,
    DocumentsResponse,
    Impression,
    IndexUpdated,
    Problem,
    ReplicaInfo,
    SearchHit,
    SearchReply,
    SearchRequest,
    SearchResponse,
    ShownResult,
)
from shared.validation import decode

NO_RERANKER = "none (fusion order)"
log = logging.getLogger("codesift.search")

_search_decoder = msgspec.json.Decoder(SearchRequest)
_candidates_decoder = msgspec.json.Decoder(CandidatesRequest)
_documents_decoder = msgspec.json.Decoder(DocumentsRequest)


@dataclass(frozen=True)
class Loaded:
    index: RetrievalBackend  # the embedded SearchIndex, or OpenSearch
    pointer: IndexUpdated


@dataclass(frozen=True)
class RunningExperiment:
    """The online experiment a replica interleaves: its id and the candidate model, loaded."""

    experiment_id: str
    candidate: LoadedReranker


class Replica:
    def __init__(self, settings: SearchSettings, embedder: Embedder):
        self.settings = settings
        self.embedder = embedder
        self.replica_id = settings.replica_id or f"{socket.gethostname()}-{os.getpid()}"
        self.started_at = time.time()
        self.loaded: Loaded | None = None
        self.backend_client: object | None = None  # the OpenSearch client (CODESIFT_INDEX_BACKEND=opensearch)
        self.reranker: LoadedReranker | None = None
        self.reranker_since: float | None = None  # when the reranker served now was swapped in
        self.reranker_error: str | None = None  # why the last model change failed (the old one serves)
        self.reranker_checked_at: float | None = None  # last look at the production pointer
        self.reranker_prepared: str | None = None  # a trained model loaded and warmed, not served yet
        self.scores = ScoreCache(settings.reranker_cache_size)
        self.experiment: RunningExperiment | None = None  # set by services/search/experiment.py
        self.coin = random.Random()  # which searches interleave, and each round's first pick
        self.metrics = SearchInstruments(self.replica_id, self.started_at) if settings.metrics else None

    # ------------------------------------------------------------------ index and model

    def swap(self, index: RetrievalBackend, pointer: IndexUpdated) -> None:
        self.loaded = Loaded(index, pointer)
        if self.metrics is not None:
            self.metrics.index(pointer.version, index.chunk_count())
        # A learned combiner reads each candidate's chunk profile (~70 µs the first time a chunk is
        # seen, ~4 µs after): compute them now, beside the searches, not during the first ones.
        # (OpenSearch: the chunks are in the cluster; their profiles are computed as they come.)
        if isinstance(index, SearchIndex):
            threading.Thread(target=warm_features, args=(index,), name="warm-features", daemon=True).start()

    def swap_reranker(self, reranker: LoadedReranker | None) -> None:
        self.reranker = reranker
        self.reranker_since = time.time() if reranker else None
        self.reranker_error = None
        if self.metrics is not None:
            served = (reranker.version, reranker.kind) if reranker else (None, None)
            self.metrics.served(*served, self.reranker_since or time.time())

    def reranker_label(self) -> str:
        reranker = self.reranker
        return reranker.label if reranker else NO_RERANKER

    def info(self) -> ReplicaInfo:
        loaded = self.loaded
        reranker = self.reranker
        return ReplicaInfo(
            replica_id=self.replica_id,
            index_version=loaded.pointer.version if loaded else None,
            chunks=loaded.index.chunk_count() if loaded else 0,
            repos=loaded.index.repos() if loaded else {},
            reranker=reranker.label if reranker else NO_RERANKER,
            started_at=self.started_at,
            pid=os.getpid(),
            reranker_version=reranker.version if reranker else None,
            reranker_loaded_at=self.reranker_since if reranker else None,
            reranker_error=self.reranker_error,
            reranker_checked_at=self.reranker_checked_at,
            reranker_prepared=self.reranker_prepared,
            experiment=self.experiment.experiment_id if self.experiment else None,
        )

    # ------------------------------------------------------------------ requests

    def _retrieve(self, loaded: Loaded | None, query: str, k: int, repo: str | None):
        # The schema's limits (length, k, repo) hold on decode; this is the gateway's last check,
        # repeated for clients that publish on the bus directly.
        if not query.strip():
            return None, Problem("query", "must contain more than white space")
        if loaded is None:
            return None, Problem("index", "nothing is indexed yet: run `codesift index PATH` first")
        if repo is not None and repo not in loaded.index.repos():
            known = ", ".join(sorted(loaded.index.repos())) or "none"
            return None, Problem("repo", f"unknown repository {repo!r} (indexed: {known})")
        vector = self.embedder.embed_query(query)
        hits = loaded.index.retrieve(query, vector, k, repo=repo, depth=self.settings.retrieval_depth)
        return hits, None

    def _rank(
        self,
        reranker: LoadedReranker | None,
        query: str,
        hits: list[Retrieved],
        k: int,
        times: StageTimes | None = None,
    ) -> list[tuple[Retrieved, float]]:
        """The first `k` hits in served order, with the score shown for each."""
        if reranker is None:
            return [(h, h.fusion_score) for h in hits[:k]]
        candidates = to_candidates(hits)
        ranked = rerank(reranker, self.scores, query, candidates, self.settings.reranker_topn, times)
        return [(hits[position], score) for position, score in ranked[:k]]

    def search(self, data: bytes) -> tuple[bytes, Impression | None]:
        """The reply to send, and the impression to record (None when the request was refused)."""
        metrics = self.metrics
        if metrics is None:
            return self._search(data, None)
        began = time.perf_counter()
        times: StageTimes = []
        try:
            reply, impression = self._search(data, times)
        except Exception:
            metrics.searched("error")
            raise
        if impression is None:
            metrics.searched("refused")
        else:
            metrics.searched("ok")
            for stage, seconds in times:
                metrics.stage(stage, seconds)
            metrics.stage("total", time.perf_counter() - began)
        return reply, impression

    def _search(self, data: bytes, times: StageTimes | None) -> tuple[bytes, Impression | None]:
        request, problem = decode(_search_decoder, data)
        if problem is None:
            loaded = self.loaded
            reranker = self.reranker
            experiment = self.experiment
            if experiment is not None and (
                (reranker is not None and experiment.candidate.version == reranker.version)  # promoted
                or self.coin.random() >= self.settings.interleave_share
            ):
                experiment = None
            reordered = reranker is not None or experiment is not None
            depth = max(request.k, self.settings.reranker_topn) if reordered else request.k
            began = time.perf_counter() if times is not None else 0.0
            hits, problem = self._retrieve(loaded, request.query, depth, request.repo)
            if times is not None:
                times.append(("retrieval", time.perf_counter() - began))
        if problem is not None:
            return msgspec.json.encode(SearchReply(error=problem)), None
        if experiment is None:
            ranked = [
                (h, score, None) for h, score in self._rank(reranker, request.query, hits, request.k, times)
            ]
        else:
            ranked = self._interleave(reranker, experiment.candidate, request.query, hits, request.k, times)
        shown = [h.chunk for h, _, _ in ranked]
        results = [
            SearchHit(
                doc_id=(c := h.chunk).doc_id,
                repo=c.repo,
                path=c.path,
                start_line=c.start_line,
                end_line=c.end_line,
                score=round(score, 6),
                snippet=c.text,
                language=c.language,
            )
            for h, score, _ in ranked
        ]
        label = reranker.label if reranker else NO_RERANKER
        response = SearchResponse(
            query_id=uuid.uuid4().hex,
            query=request.query,
            reranker=label
            if experiment is None
            else f"{label} interleaved with {experiment.candidate.label}",
            results=results,
        )
        impression = Impression(
            query_id=response.query_id,
            query=request.query,
            repo=request.repo,
            k=request.k,
            results=[
                ShownResult(
                    position=i,
                    doc_id=h.doc_id,
                    repo=h.repo,
                    path=h.path,
                    score=h.score,
                    content_hash=c.content_hash,
                    symbol=c.symbol,
                    fingerprint=fingerprint(c.text),
                    side=side,
                )
                for i, (h, c, (_, _, side)) in enumerate(zip(results, shown, ranked, strict=True), 1)
            ],
            reranker=response.reranker,
            model_version=reranker.version if reranker else None,
            index_version=loaded.pointer.version,
            replica_id=self.replica_id,
            timestamp=time.time(),
            experiment=experiment.experiment_id if experiment else None,
        )
        return msgspec.json.encode(SearchReply(response=response)), impression

    def _interleave(
        self,
        production: LoadedReranker | None,
        candidate: LoadedReranker,
        query: str,
        hits: list[Retrieved],
        k: int,
        times: StageTimes | None,
    ) -> list[tuple[Retrieved, float, str | None]]:
        """A team-draft interleaving of production's and the candidate's rankings of the same hits:
        each shown hit with the score its team gave it and the team's name."""
        ours = {h.index: (h, score) for h, score in self._rank(production, query, hits, len(hits), times)}
        theirs = {h.index: (h, score) for h, score in self._rank(candidate, query, hits, len(hits), times)}
        merged = team_draft(list(ours), list(theirs), k, self.coin)
        return [(*(ours if side == "production" else theirs)[i], side) for i, side in merged]

    def documents(self, data: bytes) -> bytes:
        request, problem = decode(_documents_decoder, data)
        loaded = self.loaded
        if problem is None and loaded is None:
            problem = Problem("index", "nothing is indexed yet: run `codesift index PATH` first")
        if problem is None and request.repo not in loaded.index.repos():
            problem = Problem("repo", f"unknown repository {request.repo!r}")
        if problem is not None:
            return msgspec.json.encode(DocumentsReply(error=problem))
        total, chosen = loaded.index.documents(request.repo, request.doc_ids, request.offset, request.limit)
        records = [
            ChunkRecord(
                doc_id=c.doc_id,
                repo=c.repo,
                path=c.path,
                start_line=c.start_line,
                end_line=c.end_line,
                language=c.language,
                chunk_kind=c.kind,
                symbol=c.symbol,
                text=c.text,
            )
            for c in chosen
        ]
        response = DocumentsResponse(repo=request.repo, total=total, chunks=records)
        return msgspec.json.encode(DocumentsReply(response=response))

    def candidates(self, data: bytes) -> bytes:
        request, problem = decode(_candidates_decoder, data)
        if problem is None:
            loaded = self.loaded
            hits, problem = self._retrieve(loaded, request.query, request.k, request.repo)
        if problem is not None:
            return msgspec.json.encode(CandidatesReply(error=problem))
        response = CandidatesResponse(query=request.query, candidates=to_candidates(hits))
        return msgspec.json.encode(CandidatesReply(response=response))


def warm_features(index: SearchIndex) -> None:
    began = time.perf_counter()
    kinds = index.file_kinds
    hits = [
        Retrieved(i, 0, 0.0, None, 0.0, None, 0.0, index.chunks[i], kinds[i])
        for i in range(min(len(index.chunks), features.PROFILE_CACHE))
    ]
    count = features.warm(to_candidates(hits))
    log.info("feature profiles of %d chunks ready in %.2f s", count, time.perf_counter() - began)


def to_candidates(hits: list[Retrieved]) -> list[Candidate]:
    """The hits as rankers see them (features, cross-encoder texts), in fusion order."""
    return [
        Candidate(
            doc_id=(c := h.chunk).doc_id,
            repo=c.repo,
            path=c.path,
            start_line=c.start_line,
            end_line=c.end_line,
            language=c.language,
            chunk_kind=c.kind,
            content_hash=c.content_hash,
            text=c.text,
            fusion_rank=h.fusion_rank,
            fusion_score=h.fusion_score,
            bm25_rank=h.bm25_rank,
            bm25_score=h.bm25_score,
            vector_rank=h.vector_rank,
            vector_score=h.vector_score,
            symbol=c.symbol,
            file_kind=h.file_kind,
        )
        for h in hits
    ]
