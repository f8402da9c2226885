"""The index body: a code-aware analyzer, the chunk's fields and its vector as a knn_vector (HNSW).

The analyzer `code` reproduces `shared.tokens.code_tokens` (tests/unit/search/opensearch run it
filter by filter in Python against code_tokens on this repository's own files):

1. tokenizer: runs of letters, digits and `_`, without leading or trailing underscores;
2. `length` drops words over MAX_WORD_CHARS (data, not identifiers);
3. `pattern_capture` (preserve_original) adds the identifier's parts: camelCase, PascalCase,
   acronyms (`HTTPResponse` -> HTTP, Response) and digit runs, with codesift's own regex;
4. `keyword_marker` marks the whole identifier when it has several parts, so it is not stemmed;
5. `pattern_replace` drops the underscores of the whole (`validate_token` -> validatetoken);
6. lowercase, codesift's stop words, one-character tokens dropped, Snowball English (Lucene's
   Porter2, an older Snowball than PyStemmer's "english": a few words stem apart, e.g. `interval`
   -> `interv` here, `interval` there; so queries send unstemmed parts through `code_query_stem`).

BM25 runs over one field, `bm25`: the chunk's text followed by PATH_REPEAT copies of its path,
the same bag of tokens the embedded index scores, with its k1 and b. `text` is only stored.
The similarity counts every token in a document's length (`discount_overlaps: false`): the parts
that `pattern_capture` stacks on their identifier (position increment 0) are tokens bm25s counts,
and Lucene's average length (sumTotalTermFreq / docCount) counts them whatever the setting.
"""

from __future__ import annotations

from services.search.bm25 import K1, B
from services.search.index import PATH_REPEAT
from shared.tokens import MAX_WORD_CHARS, STOP_WORDS

ANALYZER = "code"
QUERY_STEM_ANALYZER = "code_query_stem"  # a query's unstemmed part -> its stem, as `code` stems it
SIMILARITY = "codesift_bm25"
# Java regexes (also valid for the `regex` module the unit tests emulate them with).
WORD_SEPARATORS = r"[^\p{L}\p{N}_]+_*|(?<![\p{L}\p{N}_])_+|_+(?![\p{L}\p{N}_])"
# shared.tokens._ASCII_PARTS, preceded by its _OTHER_PARTS for a run holding a non-ASCII
# character: letters and non-decimal numbers (Python's [^\W\d_], e.g. `²`) are one part there.
_LETTERS = r"[\p{L}\p{Nl}\p{No}]"
PARTS = rf"({_LETTERS}*[^\x00-\x7F\p{{Nd}}]{_LETTERS}*|[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+)"
# A word with several parts: an underscore inside, a case change, an acronym's end, letter-digit.
MULTI_PART = r".*(_|[a-z][A-Z]|[A-Z][A-Z][a-z]|\p{L}\p{Nd}|\p{Nd}\p{L}).*"
VECTOR_FIELD = "vector"
SOURCE_EXCLUDES = ["bm25", VECTOR_FIELD]  # what hits never need to carry back

ANALYSIS = {
    "tokenizer": {"code_words": {"type": "pattern", "pattern": WORD_SEPARATORS}},
    "filter": {
        "code_max_word": {"type": "length", "max": MAX_WORD_CHARS},
        "code_parts": {"type": "pattern_capture", "preserve_original": True, "patterns": [PARTS]},
        "code_whole": {"type": "keyword_marker", "keywords_pattern": MULTI_PART},
        "code_underscores": {"type": "pattern_replace", "pattern": "_", "replacement": ""},
        "code_stop": {"type": "stop", "stopwords": sorted(STOP_WORDS)},
        "code_min_length": {"type": "length", "min": 2},
        "code_stem": {"type": "snowball", "language": "English"},
    },
    "analyzer": {
        ANALYZER: {
            "type": "custom",
            "tokenizer": "code_words",
            "filter": [
                "code_max_word",
                "code_parts",
                "code_whole",
                "code_underscores",
                "lowercase",
                "code_stop",
                "code_min_length",
                "code_stem",
            ],
        },
        QUERY_STEM_ANALYZER: {"type": "custom", "tokenizer": "keyword", "filter": ["lowercase", "code_stem"]},
    },
}


def index_body(dim: int, shards: int = 1, replicas: int = 0) -> dict:
    """What `indices.create` gets for one versioned index of one repository."""
    keyword = {"type": "keyword"}
    return {
        "settings": {
            "index": {
                "number_of_shards": shards,
                "number_of_replicas": replicas,
                "knn": True,
                "similarity": {SIMILARITY: {"type": "BM25", "k1": K1, "b": B, "discount_overlaps": False}},
            },
            "analysis": ANALYSIS,
        },
        "mappings": {
            "dynamic": "strict",
            "_source": {"excludes": ["bm25"]},
            "properties": {
                "repo": keyword,
                "doc_id": keyword,
                "path": {**keyword, "fields": {"code": {"type": "text", "analyzer": ANALYZER}}},
                "start_line": {"type": "integer"},
                "end_line": {"type": "integer"},
                "ordinal": {"type": "integer"},  # the chunk's place in its repository, as indexed
                "language": keyword,
                "chunk_kind": keyword,
                "file_kind": keyword,
                "symbol": keyword,
                "content_hash": keyword,
                "embed_key": keyword,
                "text": {"type": "text", "index": False},
                "bm25": {"type": "text", "analyzer": ANALYZER, "similarity": SIMILARITY},
                VECTOR_FIELD: {
                    "type": "knn_vector",
                    "dimension": dim,
                    "method": {
                        "name": "hnsw",
                        "space_type": "cosinesimil",
                        "engine": "lucene",
                        "parameters": {"m": 16, "ef_construction": 128},
                    },
                },
            },
        },
    }


def bm25_values(text: str, path: str) -> list[str]:
    """The `bm25` field of a chunk: what `services.search.index.bm25_tokens` tokenizes."""
    return [text] + [path] * PATH_REPEAT
