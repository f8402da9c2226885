"""What a replica serves with a reranker: the fused-rank blend over the top N, cached scores, atomic swaps."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec
import numpy as np
import pytest

from services.search.indexer import index_repository
from services.search.replica import NO_RERANKER, Replica
from services.search.reranking import BLEND, LoadedReranker, rerank
from services.search.score_cache import ScoreCache
from services.search.settings import SearchSettings
from shared.blend import blend_with_scores
from shared.schemas import Candidate, IndexUpdated, SearchReply, SearchRequest

FIXTURE_REPO = Path(__file__).resolve().parents[2] / "fixtures" / "sample_repo"
DIM = 16


class HashEmbedder:
    """Stands in for the ONNX embedder: a unit vector derived from the text's hash."""

    dim = DIM
    identity = "hash-v1"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self.embed_query(t) for t in texts]) if texts else np.zeros((0, DIM), np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha1(text.encode()).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
        return v / np.linalg.norm(v)


class FakeScorer:
    """Scores a text by its length (or the reverse), records what it was asked, can hold a run."""

    def __init__(self, sign: float = 1.0):
        self.sign = sign
        self.calls: list[list[str]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        self.started.set()
        assert self.release.wait(10)
        return np.array([self.sign * len(t) for t in texts], dtype=np.float32)


def reranker(version: str, scorer: FakeScorer) -> LoadedReranker:
    return LoadedReranker(version=version, sha256="ab" * 32, scorer=scorer)  # type: ignore[arg-type]


def candidate(i: int, text: str, path: str = "pkg/mod.py") -> Candidate:
    return Candidate(
        doc_id=f"{path}:{i}", repo="r", path=path, start_line=i, end_line=i + 1, language="python",
        chunk_kind="function", content_hash=f"h{i}", text=text, fusion_rank=i + 1,
        fusion_score=1 / (61 + i), bm25_rank=i + 1, bm25_score=1.0, vector_rank=i + 1, vector_score=0.5,
    )  # fmt: skip


CANDIDATES = [candidate(i, "x" * (i + 1)) for i in range(8)]  # longer text: higher fake score


# ---------------------------------------------------------------- rerank and the score cache


def test_rerank_scores_only_the_top_n_and_orders_them_by_the_shared_blend():
    scorer = FakeScorer()
    ranked = rerank(reranker("v1", scorer), ScoreCache(100), "q", CANDIDATES, top_n=5)
    assert scorer.calls == [[c.text for c in CANDIDATES[:5]]]
    expected = blend_with_scores(range(8), [1.0, 2.0, 3.0, 4.0, 5.0], 5)
    assert ranked == expected
    # fusion ranks 1..5 meet cross-encoder ranks 5..1: the ends tie (1/61 + 1/65), the better fusion
    # rank first; the middle (1/63 + 1/63) comes last; below the top 5, fusion order
    assert [p for p, _ in ranked] == [0, 4, 1, 3, 2, 5, 6, 7]
    assert ranked[0][1] == ranked[1][1] == pytest.approx(1 / 61 + 1 / 65)
    assert ranked[5][1] == pytest.approx(1 / 66)


def test_cached_scores_skip_the_model_per_version_and_query():
    scorer = FakeScorer()
    cache = ScoreCache(100)
    first = rerank(reranker("v1", scorer), cache, "q", CANDIDATES, top_n=4)
    rerank(reranker("v1", scorer), cache, "q", CANDIDATES, top_n=6)
    assert scorer.calls[1] == [CANDIDATES[4].text, CANDIDATES[5].text]  # only the two not cached
    again = rerank(reranker("v1", scorer), cache, "q", CANDIDATES, top_n=4)
    assert len(scorer.calls) == 2 and again == first
    rerank(reranker("v2", scorer), cache, "q", CANDIDATES, top_n=4)  # another model: scored anew
    rerank(reranker("v1", scorer), cache, "other query", CANDIDATES, top_n=4)
    assert len(scorer.calls) == 4
    assert (cache.hits, cache.misses) == (4 + 4, 4 + 2 + 4 + 4)


def test_the_cache_forgets_the_least_recently_used_pairs_first():
    cache = ScoreCache(3)
    cache.store("v", "q", ["a", "b", "c"], [1.0, 2.0, 3.0])
    assert cache.lookup("v", "q", ["a"]) == [1.0]  # a is now the most recent
    cache.store("v", "q", ["d"], [4.0])
    assert len(cache) == 3
    assert cache.lookup("v", "q", ["a", "b", "c", "d"]) == [1.0, None, 3.0, 4.0]


def test_a_cache_of_size_zero_keeps_nothing():
    cache = ScoreCache(0)
    cache.store("v", "q", ["a"], [1.0])
    assert cache.lookup("v", "q", ["a"]) == [None]


# ---------------------------------------------------------------- the replica


@pytest.fixture(scope="module")
def index():
    built, _ = index_repository(FIXTURE_REPO, "sample", None, HashEmbedder())
    return built


def make_replica(index, **settings) -> Replica:
    replica = Replica(SearchSettings(replica_id="r1", **settings), HashEmbedder())  # type: ignore[arg-type]
    pointer = IndexUpdated(timestamp=0.0, version="idx1", sha256="0" * 64, chunks=len(index.chunks), repos={})
    replica.swap(index, pointer)
    return replica


def search(replica: Replica, query: str = "where is the password hashed", k: int = 10):
    data, impression = replica.search(msgspec.json.encode(SearchRequest(query=query, k=k)))
    reply = msgspec.json.decode(data, type=SearchReply)
    assert reply.response is not None, reply.error
    return reply.response, impression


def fusion_doc_ids(replica: Replica, query: str, k: int) -> list[str]:
    hits, _ = replica._retrieve(replica.loaded, query, k, None)
    return [replica.loaded.index.chunks[h.index].doc_id for h in hits]


def test_without_a_reranker_results_keep_fusion_order(index):
    replica = make_replica(index)
    response, impression = search(replica, k=10)
    assert response.reranker == NO_RERANKER == replica.info().reranker
    assert [h.doc_id for h in response.results] == fusion_doc_ids(replica, response.query, 10)
    assert impression.model_version is None and replica.info().reranker_version is None


def test_a_loaded_reranker_reorders_the_top_n_and_says_so(index):
    replica = make_replica(index, reranker_topn=6)
    replica.swap_reranker(reranker("cross-encoder-codesift-20261125-120000", FakeScorer()))
    response, impression = search(replica, k=10)
    assert response.reranker == f"cross-encoder-codesift-20261125-120000 ({BLEND})"
    fusion = fusion_doc_ids(replica, response.query, 10)
    chunks = {c.doc_id: c for c in index.chunks}
    scores = [len(chunks[d].text) for d in fusion[:6]]
    expected = blend_with_scores(range(10), scores, 6)
    assert [h.doc_id for h in response.results] == [fusion[p] for p, _ in expected] != fusion
    assert [h.score for h in response.results] == [round(s, 6) for _, s in expected]
    assert [h.doc_id for h in response.results[6:]] == fusion[6:]
    assert impression.model_version == "cross-encoder-codesift-20261125-120000"
    assert impression.reranker == response.reranker
    assert [r.doc_id for r in impression.results] == [h.doc_id for h in response.results]


def test_an_impression_stamps_each_result_with_its_chunk_s_hash_symbol_and_fingerprint(index):
    from shared.fingerprints import fingerprint

    response, impression = search(make_replica(index), k=10)
    chunks = {c.doc_id: c for c in index.chunks}
    assert [(r.content_hash, r.symbol, r.fingerprint) for r in impression.results] == [
        (chunks[h.doc_id].content_hash, chunks[h.doc_id].symbol, fingerprint(chunks[h.doc_id].text))
        for h in response.results
    ]
    assert any(r.symbol for r in impression.results) and all(r.fingerprint for r in impression.results)


def test_a_small_k_still_reranks_the_whole_top_n(index):
    replica = make_replica(index, reranker_topn=8)
    scorer = FakeScorer()
    replica.swap_reranker(reranker("v1", scorer))
    response, _ = search(replica, k=3)
    assert len(scorer.calls[0]) == 8 and len(response.results) == 3
    fusion = fusion_doc_ids(replica, response.query, 8)
    chunks = {c.doc_id: c for c in index.chunks}
    expected = blend_with_scores(range(8), [len(chunks[d].text) for d in fusion], 8)[:3]
    assert [h.doc_id for h in response.results] == [fusion[p] for p, _ in expected] != fusion[:3]


def test_a_request_in_flight_finishes_on_the_model_it_started_with(index):
    replica = make_replica(index, reranker_topn=6)
    old = FakeScorer(sign=1.0)
    old.release.clear()
    replica.swap_reranker(reranker("old", old))
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(search, replica)
        assert old.started.wait(10)
        new = FakeScorer(sign=-1.0)
        replica.swap_reranker(reranker("new", new))  # while the old model is mid-run
        old.release.set()
        response, impression = running.result(10)
    assert response.reranker.startswith("old ") and impression.model_version == "old"
    assert new.calls == []
    after, _ = search(replica)
    assert after.reranker.startswith("new ") and len(new.calls) == 1
    assert [h.doc_id for h in after.results] != [h.doc_id for h in response.results]


def test_info_reports_the_model_since_when_and_the_last_error(index):
    replica = make_replica(index)
    before = time.time()
    replica.swap_reranker(reranker("v1", FakeScorer()))
    replica.reranker_error = "v2: the archive does not match its sha256; refused"
    replica.reranker_checked_at = time.time()
    info = replica.info()
    assert info.reranker_version == "v1" and before <= info.reranker_loaded_at <= time.time()
    assert info.reranker == f"v1 ({BLEND})" and "sha256" in info.reranker_error
    replica.swap_reranker(None)
    info = replica.info()
    assert info.reranker == NO_RERANKER and info.reranker_version is None and info.reranker_error is None
