"""Request bodies of the OpenSearch backend: BM25, k-NN, the score look-ups, hybrid, documents.

BM25 queries are built from `shared.tokens.query_terms` (the analyzer's tokens, computed here,
before stemming): one clause per distinct token, boosted by how often the query repeats it, on the
`bm25` field — the sum bm25s computes. A whole identifier or a number is a `term`; a part to stem
is a `match` through the `code_query_stem` analyzer, so OpenSearch stems it with the Snowball of
its own index (Lucene's is not PyStemmer's version: `interval` is `interv` there). One `match`
over the query's text would not do: the analyzer stacks an identifier's parts on its whole at one
position, and Lucene then scores them as one blended synonym term.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from services.search.opensearch.mapping import QUERY_STEM_ANALYZER, SOURCE_EXCLUDES, VECTOR_FIELD

RRF_RANK_CONSTANT = 60  # services.search.index.RRF_K
PIPELINE_RRF, PIPELINE_NORMALIZED = "codesift-rrf", "codesift-min-max"

Term = tuple[str, bool]  # a query token before stemming, and whether it is stemmed


def repo_filter(repo: str | None) -> list[dict]:
    return [] if repo is None else [{"term": {"repo": repo}}]


def bm25_clause(token: str, stemmed: bool, count: int) -> dict:
    """One query token, `count` times: as indexed (a whole, a number) or stemmed by OpenSearch."""
    if stemmed:
        return {"match": {"bm25": {"query": token, "analyzer": QUERY_STEM_ANALYZER, "boost": float(count)}}}
    return {"term": {"bm25": {"value": token, "boost": float(count)}}}


def bm25_query(terms: Sequence[Term], repo: str | None = None) -> dict:
    """Chunks holding any of `terms` (within `repo`), scored by BM25 on `bm25`."""
    if not terms:
        return {"match_none": {}}
    should = [bm25_clause(token, stemmed, n) for (token, stemmed), n in sorted(Counter(terms).items())]
    return {"bool": {"should": should, "minimum_should_match": 1, "filter": repo_filter(repo)}}


def knn_query(vector: Sequence[float], k: int, repo: str | None = None) -> dict:
    """The k nearest chunk vectors (within `repo`: efficient filtering, k results if there are k)."""
    clause: dict = {"vector": [float(x) for x in vector], "k": k}
    if repo is not None:
        clause["filter"] = {"bool": {"filter": repo_filter(repo)}}
    return {"knn": {VECTOR_FIELD: clause}}


def bm25_search(terms: Sequence[Term], size: int, repo: str | None = None) -> dict:
    """BM25 top `size`; equal scores in indexing order, as the embedded index breaks ties."""
    return {
        "size": size,
        "query": bm25_query(terms, repo),
        "sort": [{"_score": "desc"}, {"repo": "asc"}, {"ordinal": "asc"}],
        "track_scores": True,
        "_source": {"excludes": SOURCE_EXCLUDES},
    }


def knn_search(vector: Sequence[float], size: int, repo: str | None = None) -> dict:
    return {"size": size, "query": knn_query(vector, size, repo), "_source": {"excludes": SOURCE_EXCLUDES}}


def bm25_scores_of(terms: Sequence[Term], ids: Sequence[str]) -> dict:
    """The BM25 scores of the chunks `ids` (those that match at all): the features of fused hits
    that the BM25 top list missed."""
    return {
        "size": len(ids),
        "query": {"bool": {"must": [bm25_query(terms)], "filter": [{"ids": {"values": list(ids)}}]}},
        "_source": False,
    }


def vectors_of(ids: Sequence[str]) -> dict:
    """The stored vectors of the chunks `ids`: the cosine of fused hits the k-NN list missed."""
    return {"size": len(ids), "query": {"ids": {"values": list(ids)}}, "_source": [VECTOR_FIELD]}


def hybrid_search(terms: Sequence[Term], vector: Sequence[float], size: int, repo: str | None = None) -> dict:
    """BM25 and k-NN as one `hybrid` query, fused on the server by a search pipeline."""
    return {
        "size": size,
        "query": {"hybrid": {"queries": [bm25_query(terms, repo), knn_query(vector, size, repo)]}},
        "_source": {"excludes": SOURCE_EXCLUDES},
    }


def hybrid_params() -> dict:
    """The URL parameters of the hybrid search: its RRF pipeline, and no `dfs_query_then_fetch`.

    With DFS over more than one shard (the read alias spans one index per repository), OpenSearch
    runs a DFS_QUERY phase instead of the QUERY phase and the pipeline's phase-results processor is
    skipped: the sub-queries' hits come back unfused (neural-search issue #1490; rejected outright
    from neural-search PR #1873 on). So the hybrid query's BM25 ranks use per-shard IDF.
    """
    return {"search_pipeline": PIPELINE_RRF}


def rrf_pipeline() -> dict:
    """Server-side RRF (`score-ranker-processor`, OpenSearch >= 2.19) with the embedded k."""
    return {
        "description": "codesift: reciprocal-rank fusion of BM25 and k-NN",
        "phase_results_processors": [
            {
                "score-ranker-processor": {
                    "combination": {"technique": "rrf", "rank_constant": RRF_RANK_CONSTANT}
                }
            }
        ],
    }


def normalized_pipeline() -> dict:
    """Server-side min-max normalisation and equal-weight mean (`normalization-processor`, >= 2.10)."""
    return {
        "description": "codesift: min-max normalised mean of BM25 and k-NN",
        "phase_results_processors": [
            {
                "normalization-processor": {
                    "normalization": {"technique": "min_max"},
                    "combination": {"technique": "arithmetic_mean", "parameters": {"weights": [0.5, 0.5]}},
                }
            }
        ],
    }


def documents_search(repo: str, doc_ids: Sequence[str] | None, offset: int, limit: int) -> dict:
    """Chunks of `repo` in indexing order: those named, or the page [offset, offset + limit).

    A page is a range of `ordinal` (0, 1, 2, ... within a repository), not from/size, so pages far
    past index.max_result_window (10,000) are served too.
    """
    filters: list[dict] = repo_filter(repo)
    if doc_ids is not None:
        filters.append({"terms": {"doc_id": list(doc_ids)}})
        size = len(doc_ids)
    else:
        filters.append({"range": {"ordinal": {"gte": offset, "lt": offset + limit}}})
        size = limit
    return {
        "size": size,
        "query": {"bool": {"filter": filters}},
        "sort": [{"ordinal": "asc"}],
        "_source": {"excludes": SOURCE_EXCLUDES},
    }


def repos_aggregation(max_repos: int = 10_000) -> dict:
    """Repository name → number of chunks, over the read alias."""
    return {"size": 0, "aggs": {"repos": {"terms": {"field": "repo", "size": max_repos}}}}
