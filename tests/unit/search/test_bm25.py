import json
import math

import numpy as np
import pytest

from services.search.bm25 import BM25Index

CORPUS = [
    ["parse", "the", "config", "file", "and", "validate", "the", "token"],
    ["validate", "oauth", "token", "token", "expiry"],
    ["render", "the", "html", "template"],
    ["config", "loader", "reads", "yaml", "config"],
    [],
    ["token", "bucket", "rate", "limiter"],
]


def reference_bm25(corpus, query, k1=1.5, b=0.75):
    """Lucene's BM25 (Kamphuis et al. 2020), written out term by term."""
    n = len(corpus)
    avgdl = sum(len(d) for d in corpus) / n
    scores = []
    for doc in corpus:
        total = 0.0
        for term in query:
            df = sum(term in d for d in corpus)
            if df == 0:
                continue
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            tf = doc.count(term)
            total += idf * tf / (tf + k1 * (1 - b + b * len(doc) / avgdl))
        scores.append(total)
    return np.array(scores)


@pytest.mark.parametrize(
    "query",
    [["token"], ["validate", "token"], ["config"], ["token", "token", "html"], ["missing"], ["yaml", "rate"]],
)
def test_scores_match_the_reference(query):
    index = BM25Index.build(CORPUS)
    scores = index.scores(query)
    assert scores.dtype == np.float32
    assert scores.shape == (len(CORPUS),)
    np.testing.assert_allclose(scores, reference_bm25(CORPUS, query), rtol=1e-5, atol=1e-7)


def test_top_returns_matching_docs_best_first():
    index = BM25Index.build(CORPUS)
    hits = index.top(["validate", "token"], k=10)
    expected = reference_bm25(CORPUS, ["validate", "token"])
    assert [doc for doc, _ in hits] == [1, 0, 5]  # only docs with a positive score
    assert [score for _, score in hits] == pytest.approx([expected[1], expected[0], expected[5]], rel=1e-5)
    assert index.top(["validate", "token"], k=2) == hits[:2]


def test_mask_restricts_top():
    index = BM25Index.build(CORPUS)
    mask = np.array([True, False, True, True, True, True])
    assert [doc for doc, _ in index.top(["token"], k=10, mask=mask)] == [5, 0]


def test_queries_and_corpora_without_tokens():
    index = BM25Index.build(CORPUS)
    assert index.top([], k=5) == []
    assert not index.scores([]).any()
    assert index.top(["nowhere"], k=5) == []
    empty = BM25Index.build([])
    assert len(empty) == 0
    assert empty.top(["token"], k=5) == []
    blank = BM25Index.build([[], []])
    assert blank.scores(["token"]).tolist() == [0.0, 0.0]


def test_save_load_round_trip(tmp_path):
    index = BM25Index.build(CORPUS)
    index.save(tmp_path / "bm25")
    loaded = BM25Index.load(tmp_path / "bm25")
    assert len(loaded) == len(CORPUS)
    for query in (["token"], ["config", "html"]):
        np.testing.assert_array_equal(loaded.scores(query), index.scores(query))
    for npy in (tmp_path / "bm25").glob("*.npy"):
        np.load(npy, allow_pickle=False)  # plain arrays, no pickled objects


def test_empty_index_round_trip(tmp_path):
    BM25Index.build([[], [], []]).save(tmp_path / "bm25")
    loaded = BM25Index.load(tmp_path / "bm25")
    assert len(loaded) == 3
    assert loaded.top(["token"], k=3) == []


def test_vocabulary_is_sorted_so_saved_files_do_not_depend_on_hash_order(tmp_path):
    BM25Index.build(CORPUS).save(tmp_path / "bm25")
    vocab = json.loads((tmp_path / "bm25" / "vocab.index.json").read_text())
    assert list(vocab) == sorted(vocab)
    assert list(vocab.values()) == list(range(len(vocab)))
