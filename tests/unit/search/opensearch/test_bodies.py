"""Request bodies of the OpenSearch backend: names, mapping, queries, bulk actions, alias swaps."""

import re
from collections import Counter

import numpy as np
import pytest

from services.search.documents import Chunk
from services.search.index import PATH_REPEAT
from services.search.opensearch import queries
from services.search.opensearch.client import client_options
from services.search.opensearch.mapping import ANALYSIS, ANALYZER, index_body
from services.search.opensearch.names import (
    IndexNameError,
    is_version_of,
    new_index_name,
    read_alias,
    repo_alias,
)
from services.search.opensearch.writer import bulk_actions, doc_key, swap_actions
from services.search.settings import SearchSettings
from shared.tokens import code_tokens, query_terms, query_tokens
from tests.unit.search.opensearch.analyzer_emulation import analyze

# OpenSearch's rule for index names
FORBIDDEN = set('\\/*?"<>| ,#:')


def valid_index_name(name: str) -> bool:
    return (
        name == name.lower()
        and not FORBIDDEN & set(name)
        and not name.startswith(("-", "_", "+"))
        and name not in {".", ".."}
        and len(name.encode()) <= 255
    )


@pytest.mark.parametrize(
    "repo", ["acme", "Acme", "a/b", "-x_y+", 'we*ird?"<>| ,#:name', "ünïcode", "x" * 400, "..", "_"]
)
def test_every_repository_name_gives_valid_distinct_index_names(repo):
    alias = repo_alias("codesift", repo)
    index = new_index_name(alias, 1718000000000000000)
    assert valid_index_name(alias) and valid_index_name(index), (alias, index)
    assert is_version_of(index, alias)
    assert alias != read_alias("codesift")


def test_names_that_differ_only_in_case_or_punctuation_get_their_own_alias():
    names = ["acme", "Acme", "a/b", "a-b", "a b"]
    assert len({repo_alias("codesift", n) for n in names}) == len(names)


def test_another_repositorys_indexes_are_not_versions_of_an_alias():
    alias = repo_alias("codesift", "a")
    assert not is_version_of(f"{alias}-x-v1", alias)
    assert not is_version_of(f"{alias}v1", alias)
    assert not is_version_of(alias, alias)


def test_a_bad_prefix_is_refused_naming_the_setting():
    with pytest.raises(IndexNameError, match="CODESIFT_OPENSEARCH_INDEX_PREFIX"):
        repo_alias("Code_Sift", "acme")
    with pytest.raises(IndexNameError):
        read_alias("_hidden")


def test_the_mapping_has_the_code_analyzer_bm25_of_the_embedded_index_and_an_hnsw_vector():
    body = index_body(384, shards=3, replicas=1)
    settings = body["settings"]
    assert settings["index"] == {
        "number_of_shards": 3,
        "number_of_replicas": 1,
        "knn": True,
        "similarity": {"codesift_bm25": {"type": "BM25", "k1": 1.5, "b": 0.75, "discount_overlaps": False}},
    }
    analyzer = settings["analysis"]["analyzer"][ANALYZER]
    assert analyzer["type"] == "custom" and analyzer["filter"][-1] == "code_stem"
    assert settings["analysis"]["filter"]["code_stem"] == {"type": "snowball", "language": "English"}
    assert settings["analysis"]["filter"]["code_parts"]["preserve_original"] is True
    fields = body["mappings"]["properties"]
    assert fields["vector"] == {
        "type": "knn_vector",
        "dimension": 384,
        "method": {
            "name": "hnsw",
            "space_type": "cosinesimil",
            "engine": "lucene",
            "parameters": {"m": 16, "ef_construction": 128},
        },
    }
    assert fields["bm25"] == {"type": "text", "analyzer": ANALYZER, "similarity": "codesift_bm25"}
    assert fields["path"]["fields"]["code"]["analyzer"] == ANALYZER
    for name in [
        "repo",
        "doc_id",
        "file_kind",
        "chunk_kind",
        "content_hash",
        "symbol",
        "embed_key",
        "language",
    ]:
        assert fields[name] == {"type": "keyword"}, name
    assert body["mappings"]["dynamic"] == "strict"


def test_the_bm25_document_length_counts_the_stacked_parts_as_bm25s_does():
    """bm25s's length of a chunk is its number of code_tokens, stacked identifier parts included.

    Lucene's BM25 drops tokens at position increment 0 (the parts pattern_capture stacks on their
    identifier) from a document's length unless `discount_overlaps` is false, while its average
    length (sumTotalTermFreq / docCount) counts them: with the default, every chunk holding a
    multi-part identifier would look shorter than the average. (OpenSearch docs, "Similarity":
    BM25 `discount_overlaps`, default true.)
    """
    similarity = index_body(4)["settings"]["index"]["similarity"]["codesift_bm25"]
    assert similarity["discount_overlaps"] is False
    text = "def parse_http_response(raw): return parseHTTPResponse(raw)"
    # 4 positions (parse_http_response, raw, parseHTTPResponse, raw) carry 10 tokens: each
    # identifier's 3 parts sit on it. bm25s counts 10, so must Lucene.
    assert len(analyze(text)) == len(code_tokens(text)) == 10


def test_the_bm25_query_is_one_clause_per_token_boosted_by_its_count_within_the_repository():
    query = queries.bm25_query(query_terms("validateToken(token) 256"), repo="acme")
    assert query == {
        "bool": {
            "should": [
                {"term": {"bm25": {"value": "256", "boost": 1.0}}},
                {"match": {"bm25": {"query": "token", "analyzer": "code_query_stem", "boost": 2.0}}},
                {"match": {"bm25": {"query": "validate", "analyzer": "code_query_stem", "boost": 1.0}}},
                {"term": {"bm25": {"value": "validatetoken", "boost": 1.0}}},  # a whole: not stemmed
            ],
            "minimum_should_match": 1,  # a filter alone would make every chunk of the repo match
            "filter": [{"term": {"repo": "acme"}}],
        }
    }
    assert queries.bm25_query([("token", True)])["bool"]["filter"] == []
    assert queries.bm25_query([]) == {"match_none": {}}


@pytest.mark.parametrize(
    "query",
    ["parseHTTPResponse", "where is the retry interval added", "sha256 x2 naïve größe_berechnen", ""],
)
def test_the_bm25_clauses_analyzed_as_opensearch_does_are_the_query_tokens(query):
    """A stemmed part goes unstemmed to OpenSearch, whose `code_query_stem` (keyword tokenizer,
    lowercase, the index's Snowball) stems it as the `code` analyzer stemmed the chunks: Lucene's
    Snowball English is older than PyStemmer's (Lucene 8.7 and 9.x give `interval` -> `interv`,
    `added` -> `ad`; PyStemmer 3 keeps `interval`, `add`), so a stem computed here could match
    nothing there. With the emulation's stemmer the clauses give exactly `query_tokens`."""
    body = queries.bm25_query(query_terms(query))
    analyzed: Counter = Counter()
    for clause in body.get("bool", {}).get("should", []):
        if "term" in clause:
            spec = clause["term"]["bm25"]
            analyzed[spec["value"]] += int(spec["boost"])
        else:
            spec = clause["match"]["bm25"]
            [stem] = analyze(spec["query"], spec["analyzer"])
            analyzed[stem] += int(spec["boost"])
    assert analyzed == Counter(query_tokens(query))
    stemmer = index_body(4)["settings"]["analysis"]["analyzer"]["code_query_stem"]
    assert stemmer["tokenizer"] == "keyword"
    assert stemmer["filter"][-1] == ANALYSIS["analyzer"][ANALYZER]["filter"][-1]  # the same Snowball


def test_the_bm25_search_breaks_ties_in_indexing_order_and_returns_no_vectors():
    body = queries.bm25_search([("token", True)], 100, "acme")
    assert body["size"] == 100 and body["track_scores"] is True
    assert body["sort"] == [{"_score": "desc"}, {"repo": "asc"}, {"ordinal": "asc"}]
    assert set(body["_source"]["excludes"]) == {"vector", "bm25"}


def test_the_knn_query_filters_inside_the_search():
    body = queries.knn_search(np.array([0.6, 0.8], dtype=np.float32), 50, repo="acme")
    assert body["size"] == 50
    clause = body["query"]["knn"]["vector"]
    assert clause["k"] == 50 and clause["vector"] == pytest.approx([0.6, 0.8])
    assert clause["filter"] == {"bool": {"filter": [{"term": {"repo": "acme"}}]}}
    assert "filter" not in queries.knn_search([1.0, 0.0], 5)["query"]["knn"]["vector"]


def test_the_score_lookups_of_fused_hits():
    body = queries.bm25_scores_of([("token", True)], ["id1", "id2"])
    assert body["size"] == 2 and body["_source"] is False
    assert body["query"]["bool"]["filter"] == [{"ids": {"values": ["id1", "id2"]}}]
    assert body["query"]["bool"]["must"] == [queries.bm25_query([("token", True)])]
    assert queries.vectors_of(["id1"]) == {
        "size": 1,
        "query": {"ids": {"values": ["id1"]}},
        "_source": ["vector"],
    }


def test_the_hybrid_query_and_its_pipelines():
    body = queries.hybrid_search([("token", True)], [1.0, 0.0], 20, "acme")
    bm25, knn = body["query"]["hybrid"]["queries"]
    assert bm25 == queries.bm25_query([("token", True)], "acme")
    assert knn == queries.knn_query([1.0, 0.0], 20, "acme")
    # dfs_query_then_fetch over several shards skips the pipeline's phase-results processor, so
    # the hybrid search must not ask for it (opensearch-project/neural-search#1490, #1873).
    assert queries.hybrid_params() == {"search_pipeline": "codesift-rrf"}
    assert "search_type" not in queries.hybrid_params()
    assert queries.rrf_pipeline()["phase_results_processors"] == [
        {"score-ranker-processor": {"combination": {"technique": "rrf", "rank_constant": 60}}}
    ]
    normalization = queries.normalized_pipeline()["phase_results_processors"][0]["normalization-processor"]
    assert normalization["normalization"] == {"technique": "min_max"}
    assert normalization["combination"]["technique"] == "arithmetic_mean"


def test_documents_are_pages_of_ordinals_or_named_ones():
    page = queries.documents_search("acme", None, 20_000, 1000)
    assert {"range": {"ordinal": {"gte": 20_000, "lt": 21_000}}} in page["query"]["bool"]["filter"]
    assert page["size"] == 1000 and "from" not in page  # never past max_result_window
    named = queries.documents_search("acme", ["a.py:1-2"], 0, 1000)
    assert {"terms": {"doc_id": ["a.py:1-2"]}} in named["query"]["bool"]["filter"]


def test_bulk_actions_carry_every_field_of_every_chunk():
    chunks = [
        Chunk(
            "app/auth.py", 1, 5, "def validate_token(t): ...", "python", "function", "validate_token", "acme"
        ),
        Chunk("README.md", 1, 3, "# Demo", "markdown", "doc_section", "", "acme"),
    ]
    vectors = np.eye(2, 4, dtype=np.float32)
    actions = list(bulk_actions("idx-v1", chunks, ["source", "docs"], ["k1", "k2"], vectors))
    assert [a["_id"] for a in actions] == [doc_key("acme", c.doc_id) for c in chunks]
    first = actions[0]
    assert first["_index"] == "idx-v1" and first["_op_type"] == "index"
    assert first["_source"] == {
        "repo": "acme",
        "doc_id": "app/auth.py:1-5",
        "path": "app/auth.py",
        "start_line": 1,
        "end_line": 5,
        "ordinal": 0,
        "language": "python",
        "chunk_kind": "function",
        "file_kind": "source",
        "symbol": "validate_token",
        "content_hash": chunks[0].content_hash,
        "embed_key": "k1",
        "text": "def validate_token(t): ...",
        "bm25": ["def validate_token(t): ..."] + ["app/auth.py"] * PATH_REPEAT,
        "vector": [1.0, 0.0, 0.0, 0.0],
    }
    assert actions[1]["_source"]["ordinal"] == 1
    mapped = set(index_body(4)["mappings"]["properties"])
    assert set(first["_source"]) == mapped  # dynamic: strict would refuse anything else
    assert re.fullmatch(r"[0-9a-f]{40}", first["_id"])


def test_the_alias_swap_moves_both_aliases_in_one_request():
    actions = swap_actions(
        "cs-acme-1", "cs-all", "cs-acme-1-v2", {"cs-acme-1-v1": ["cs-acme-1", "cs-all"], "cs-acme-1-v0": []}
    )
    assert actions == [
        {"remove": {"index": "cs-acme-1-v1", "alias": "cs-acme-1"}},
        {"remove": {"index": "cs-acme-1-v1", "alias": "cs-all"}},
        {"add": {"index": "cs-acme-1-v2", "alias": "cs-acme-1"}},
        {"add": {"index": "cs-acme-1-v2", "alias": "cs-all"}},
    ]
    assert swap_actions("a", "all", "a-v1", {}) == [
        {"add": {"index": "a-v1", "alias": "a"}},
        {"add": {"index": "a-v1", "alias": "all"}},
    ]


def test_client_options_from_settings():
    settings = SearchSettings(
        opensearch_url="https://n1:9200, https://n2:9200",
        opensearch_user="codesift",
        opensearch_password="pw",
        opensearch_ca_certs="/etc/ca.pem",
    )
    options = client_options(settings)
    assert options["hosts"] == ["https://n1:9200", "https://n2:9200"]
    assert options["http_auth"] == ("codesift", "pw")
    assert options["ca_certs"] == "/etc/ca.pem" and options["verify_certs"] is True
    assert "http_auth" not in client_options(SearchSettings())
    with pytest.raises(ValueError, match="CODESIFT_OPENSEARCH_URL"):
        client_options(SearchSettings(opensearch_url=" , "))


def test_the_indexer_writes_to_the_backend_the_settings_name():
    from services.search.indexer import EmbeddedStore
    from services.search.indexing import open_store
    from services.search.opensearch.writer import OpenSearchStore

    assert isinstance(open_store(SearchSettings()), EmbeddedStore)
    store = open_store(SearchSettings(index_backend="opensearch", opensearch_index_prefix="cs"))
    assert isinstance(store, OpenSearchStore) and store.read == "cs-all"
