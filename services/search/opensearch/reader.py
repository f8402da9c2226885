"""The OpenSearch backend's reader (`services.search.backend.RetrievalBackend`).

A search is one `_msearch` with the BM25 query (dfs_query_then_fetch: IDF over every shard, as
the embedded index computes it over every chunk) and the k-NN query, both filtered to the
repository, over the read alias; the two top lists are fused here by `fusion.rrf`, exactly as
the embedded index fuses them. A fused hit that one list missed gets its feature from a second
`_msearch`: its BM25 score (0 when no query token occurs in it) and its vector, whose cosine is
computed here. The cosine of k-NN hits is read back from their score ((1 + cos) / 2).

With CODESIFT_OPENSEARCH_HYBRID=true the server fuses instead (a `hybrid` query through the
`score-ranker-processor` RRF pipeline, without DFS: see `queries.hybrid_params`): one request, but
only fusion ranks come back, so the per-retriever ranks of its hits are unknown (None) while their
scores are looked up as above (with DFS, as in the default mode).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from opensearchpy import NotFoundError, OpenSearch

from services.search.backend import Retrieved
from services.search.documents import Chunk
from services.search.fusion import rrf
from services.search.index import RRF_K
from services.search.opensearch.mapping import VECTOR_FIELD
from services.search.opensearch.names import read_alias
from services.search.opensearch.queries import (
    bm25_scores_of,
    bm25_search,
    documents_search,
    hybrid_params,
    hybrid_search,
    knn_search,
    repos_aggregation,
    vectors_of,
)
from services.search.settings import SearchSettings
from shared.tokens import query_terms

DFS = "dfs_query_then_fetch"


def to_chunk(source: dict) -> Chunk:
    return Chunk(
        path=source["path"],
        start_line=source["start_line"],
        end_line=source["end_line"],
        text=source["text"],
        language=source["language"],
        kind=source["chunk_kind"],
        symbol=source.get("symbol", ""),
        repo=source["repo"],
        content_hash=source["content_hash"],
    )


def cosine_of(knn_score: float) -> float:
    """cosinesimil scores are (2 - (1 - cos)) / 2 (OpenSearch's k-NN spaces)."""
    return 2.0 * knn_score - 1.0


def msearch_body(searches: Sequence[tuple[str, dict, dict]]) -> list[dict]:
    """The NDJSON lines of `_msearch`: a header (index, options) and a body per search."""
    lines: list[dict] = []
    for index, options, body in searches:
        lines += [{"index": index, **options}, body]
    return lines


class OpenSearchError(RuntimeError):
    """A search the cluster failed; the message is its reason."""


def responses(reply: dict) -> list[dict]:
    out = []
    for item in reply["responses"]:
        if "error" in item:
            error = item["error"]
            reason = error.get("reason", error) if isinstance(error, dict) else error
            raise OpenSearchError(f"OpenSearch: {reason}")
        out.append(item)
    return out


class OpenSearchIndex:
    def __init__(self, client: OpenSearch, settings: SearchSettings, repos: dict[str, int], version: str):
        self.client = client
        self.settings = settings
        self.read = read_alias(settings.opensearch_index_prefix)
        self._repos = dict(sorted(repos.items()))
        self.version = version
        self.hybrid = settings.opensearch_hybrid

    @classmethod
    def open(
        cls, client: OpenSearch, settings: SearchSettings, version: str = "opensearch"
    ) -> OpenSearchIndex:
        """What the cluster holds now (the repositories counted by one aggregation)."""
        index = cls(client, settings, {}, version)
        index._repos = index.count_repos()
        return index

    def count_repos(self) -> dict[str, int]:
        try:
            reply = self.client.search(index=self.read, body=repos_aggregation())
        except NotFoundError:  # no repository indexed yet: the read alias does not exist
            return {}
        buckets = reply["aggregations"]["repos"]["buckets"]
        return dict(sorted((b["key"], int(b["doc_count"])) for b in buckets))

    # ------------------------------------------------------------------ RetrievalBackend

    def repos(self) -> dict[str, int]:
        return dict(self._repos)

    def chunk_count(self) -> int:
        return sum(self._repos.values())

    def retrieve(
        self, query: str, query_vector: np.ndarray, k: int, repo: str | None = None, depth: int = 100
    ) -> list[Retrieved]:
        terms = query_terms(query)
        vector = np.asarray(query_vector, dtype=np.float32)
        if self.hybrid:
            return self._retrieve_hybrid(terms, vector, k, repo, depth)
        bm25_reply, knn_reply = responses(
            self.client.msearch(
                body=msearch_body(
                    [
                        (self.read, {"search_type": DFS}, bm25_search(terms, depth, repo)),
                        (self.read, {}, knn_search(vector.tolist(), depth, repo)),
                    ]
                )
            )
        )
        sources: dict[str, dict] = {}
        bm25_score: dict[str, float] = {}
        vector_score: dict[str, float] = {}
        bm25_hits, vector_hits = [], []
        for hit in bm25_reply["hits"]["hits"]:
            sources.setdefault(hit["_id"], hit["_source"])
            bm25_score[hit["_id"]] = float(hit["_score"])
            bm25_hits.append(hit["_id"])
        for hit in knn_reply["hits"]["hits"]:
            sources.setdefault(hit["_id"], hit["_source"])
            vector_score[hit["_id"]] = cosine_of(float(hit["_score"]))
            vector_hits.append(hit["_id"])
        # rrf fuses numbers and breaks its last ties by the lower one: number the hits in indexing
        # order (repository, then place in it), as the embedded index's positions are.
        ids = sorted(sources, key=lambda d: (sources[d]["repo"], sources[d]["ordinal"]))
        numbers = {doc: n for n, doc in enumerate(ids)}
        fused = [
            (ids[n], score)
            for n, score in rrf(
                [[numbers[d] for d in bm25_hits], [numbers[d] for d in vector_hits]], k=RRF_K
            )[:k]
        ]
        self._fill_scores(terms, vector, [d for d, _ in fused], bm25_score, vector_score)
        bm25_rank = {doc: rank for rank, doc in enumerate(bm25_hits, start=1)}
        vector_rank = {doc: rank for rank, doc in enumerate(vector_hits, start=1)}
        return [
            Retrieved(
                index=numbers[doc],
                fusion_rank=rank,
                fusion_score=score,
                bm25_rank=bm25_rank.get(doc),
                bm25_score=bm25_score.get(doc, 0.0),
                vector_rank=vector_rank.get(doc),
                vector_score=vector_score[doc],
                chunk=to_chunk(sources[doc]),
                file_kind=sources[doc].get("file_kind", ""),
            )
            for rank, (doc, score) in enumerate(fused, start=1)
        ]

    def _fill_scores(
        self,
        terms: list[tuple[str, bool]],
        vector: np.ndarray,
        docs: list[str],
        bm25_score: dict[str, float],
        vector_score: dict[str, float],
    ) -> None:
        """The BM25 score and the cosine of the fused hits that one top list missed."""
        need_bm25 = [d for d in docs if d not in bm25_score]
        need_vector = [d for d in docs if d not in vector_score]
        searches = []
        if need_bm25 and terms:
            searches.append((self.read, {"search_type": DFS}, bm25_scores_of(terms, need_bm25)))
        if need_vector:
            searches.append((self.read, {}, vectors_of(need_vector)))
        if not searches:
            return
        replies = iter(responses(self.client.msearch(body=msearch_body(searches))))
        if need_bm25 and terms:
            for hit in next(replies)["hits"]["hits"]:
                bm25_score[hit["_id"]] = float(hit["_score"])
        if need_vector:
            for hit in next(replies)["hits"]["hits"]:
                stored = np.asarray(hit["_source"][VECTOR_FIELD], dtype=np.float32)
                vector_score[hit["_id"]] = float(stored @ vector)

    def _retrieve_hybrid(
        self, terms: list[tuple[str, bool]], vector: np.ndarray, k: int, repo: str | None, depth: int
    ) -> list[Retrieved]:
        reply = self.client.search(
            index=self.read,
            body=hybrid_search(terms, vector.tolist(), depth, repo),
            params=hybrid_params(),
        )
        hits = reply["hits"]["hits"][:k]
        docs = [hit["_id"] for hit in hits]
        bm25_score: dict[str, float] = {}
        vector_score: dict[str, float] = {}
        self._fill_scores(terms, vector, docs, bm25_score, vector_score)
        return [
            Retrieved(
                index=n,
                fusion_rank=n + 1,
                fusion_score=float(hit["_score"]),
                bm25_rank=None,
                bm25_score=bm25_score.get(hit["_id"], 0.0),
                vector_rank=None,
                vector_score=vector_score[hit["_id"]],
                chunk=to_chunk(hit["_source"]),
                file_kind=hit["_source"].get("file_kind", ""),
            )
            for n, hit in enumerate(hits)
        ]

    def documents(
        self, repo: str, doc_ids: list[str] | None = None, offset: int = 0, limit: int = 1000
    ) -> tuple[int, list[Chunk]]:
        total = self._repos.get(repo, 0)
        if doc_ids is not None and not doc_ids:
            return total, []
        reply = self.client.search(index=self.read, body=documents_search(repo, doc_ids, offset, limit))
        return total, [to_chunk(hit["_source"]) for hit in reply["hits"]["hits"]]
