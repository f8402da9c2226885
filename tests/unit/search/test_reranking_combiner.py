"""A replica serving a learned combiner: its order over the top N, the cross-encoder only when it is used."""

from __future__ import annotations

import shutil

import msgspec
import pytest

from services.search.indexer import index_repository
from services.search.replica import Replica, to_candidates
from services.search.reranking import BLEND, COMBINER, COMBINER_CE, LoadedReranker, build_reranker
from services.search.score_cache import ScoreCache
from services.search.settings import SearchSettings
from shared.artifacts import ArtifactError
from shared.combiner import Combiner
from shared.ranking import served_order
from shared.schemas import IndexUpdated, SearchReply, SearchRequest
from tests.combiner_fixtures import combiner_artifact, write_combiner
from tests.unit.search.test_reranking import FIXTURE_REPO, FakeScorer, HashEmbedder

PREFERS_TESTS = {"file_test": 5.0, "fusion_rank_log": -1.0}  # test files first, then fusion order
FOLLOWS_CE = {"ce_logit": 1.0}  # the cross-encoder's order (the fake scores longer texts higher)
QUERY = "how are passwords checked in constant time"  # fusion: the test module third
TEST_FILE = "tests/test_passwords.py"
TEST_CODE = (
    "from acme.auth.passwords import hash_password, verify_password\n\n\n"
    "def test_a_hashed_password_verifies():\n"
    "    stored = hash_password('secret')\n"
    "    assert verify_password('secret', stored)\n"
)


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    """The sample repository plus a test module about password hashing."""
    root = tmp_path_factory.mktemp("repo") / "sample"
    shutil.copytree(FIXTURE_REPO, root)
    (root / TEST_FILE).parent.mkdir()
    (root / TEST_FILE).write_text(TEST_CODE)
    built, _ = index_repository(root, "sample", None, HashEmbedder())
    return built


@pytest.fixture(scope="module")
def combiners(tmp_path_factory) -> dict[str, Combiner]:
    root = tmp_path_factory.mktemp("combiners")
    return {
        "tests": Combiner(write_combiner(root / "tests", PREFERS_TESTS)),
        "ce": Combiner(write_combiner(root / "ce", FOLLOWS_CE, uses_cross_encoder=True, kind="lambdamart")),
    }


def make_replica(index, topn: int = 10) -> Replica:
    replica = Replica(SearchSettings(replica_id="r1", reranker_topn=topn), HashEmbedder())  # type: ignore[arg-type]
    pointer = IndexUpdated(timestamp=0.0, version="idx1", sha256="0" * 64, chunks=len(index.chunks), repos={})
    replica.swap(index, pointer)
    return replica


def search(replica: Replica, k: int = 10):
    data, impression = replica.search(msgspec.json.encode(SearchRequest(query=QUERY, k=k)))
    reply = msgspec.json.decode(data, type=SearchReply)
    assert reply.response is not None, reply.error
    return reply.response, impression


def fusion(replica: Replica, k: int):
    hits, _ = replica._retrieve(replica.loaded, QUERY, k, None)
    return to_candidates(hits)


# ---------------------------------------------------------------- serving


def test_a_combiner_puts_the_files_it_learned_to_prefer_first_without_the_cross_encoder(index, combiners):
    replica = make_replica(index, topn=10)
    scorer = FakeScorer()
    replica.swap_reranker(LoadedReranker("v1", "ab" * 32, scorer, combiners["tests"]))  # type: ignore[arg-type]
    response, impression = search(replica, k=12)

    before = fusion(replica, 12)
    tests = [c.doc_id for c in before[:10] if c.path == TEST_FILE]
    assert tests and before[0].path != TEST_FILE  # fusion has the test chunk in its top N, not first
    served = [h.doc_id for h in response.results]
    others = [c.doc_id for c in before[:10] if c.path != TEST_FILE]
    assert served == tests + others + [c.doc_id for c in before[10:12]]  # then fusion order; rest below
    assert [h.score for h in response.results] == [round(1 / (60 + rank), 6) for rank in range(1, 13)]
    assert scorer.calls == []  # the combiner does not use the cross-encoder: it never runs
    assert response.reranker == impression.reranker == f"v1 ({COMBINER})" == replica.info().reranker


def test_a_combiner_that_uses_the_cross_encoder_gets_its_scores_through_the_cache(index, combiners):
    replica = make_replica(index, topn=8)
    scorer = FakeScorer()
    replica.swap_reranker(LoadedReranker("v2", "ab" * 32, scorer, combiners["ce"]))  # type: ignore[arg-type]
    response, _ = search(replica, k=10)

    before = fusion(replica, 10)
    assert scorer.calls == [[c.text for c in before[:8]]]
    by_length = sorted(range(8), key=lambda i: (-len(before[i].text), i))
    assert [h.doc_id for h in response.results] == [before[i].doc_id for i in [*by_length, 8, 9]]
    assert response.reranker == f"v2 ({COMBINER_CE})"
    again, _ = search(replica, k=10)
    assert len(scorer.calls) == 1 and again.results == response.results  # every score was cached


def test_rerank_is_served_order_with_the_models_combiner(index, combiners):
    """One function orders for replicas and the evaluator: `shared.ranking.served_order`."""
    from services.search.reranking import rerank

    replica = make_replica(index)
    candidates = fusion(replica, 20)
    reranker = LoadedReranker("v3", None, None, combiners["tests"])
    assert rerank(reranker, ScoreCache(10), QUERY, candidates, 10) == served_order(
        QUERY, candidates, 10, combiner=combiners["tests"]
    )


# ---------------------------------------------------------------- loading an artifact


def test_an_artifact_whose_combiner_skips_the_cross_encoder_never_opens_it(tmp_path):
    # the cross-encoder files are stand-ins that onnxruntime would refuse: loading them would fail
    directory = combiner_artifact(tmp_path, "v4", PREFERS_TESTS)
    loaded = build_reranker(directory, "v4", "cd" * 32)
    assert loaded.scorer is None and loaded.combiner is not None
    assert loaded.combiner.importances == pytest.approx({"file_test": 5 / 6, "fusion_rank_log": 1 / 6})
    assert (loaded.kind, loaded.label) == (COMBINER, f"v4 ({COMBINER})")


def test_an_artifact_whose_combiner_uses_the_cross_encoder_opens_it(tmp_path):
    # the same stand-in cross-encoder files as above: this time they are read, and refused
    directory = combiner_artifact(tmp_path, "v5", FOLLOWS_CE, uses_cross_encoder=True)
    with pytest.raises(Exception, match="expected ident"):  # tokenizers parsing "not a tokenizer"
        build_reranker(directory, "v5", None)


def test_a_combiner_trained_on_other_features_fails_the_load(tmp_path):
    directory = combiner_artifact(tmp_path, "v6", PREFERS_TESTS, meta={"features": ["fusion_rank_log"]})
    with pytest.raises(ArtifactError, match="trained on features"):
        build_reranker(directory, "v6", None)


def test_labels_name_how_the_model_orders(combiners):
    cross_encoder_alone = LoadedReranker("v7", None, FakeScorer())  # type: ignore[arg-type]
    assert cross_encoder_alone.label == f"v7 ({BLEND})"
    assert LoadedReranker("v8", None, None, combiners["tests"]).label == "v8 (learned combiner)"
    with_ce = LoadedReranker("v9", None, FakeScorer(), combiners["ce"])  # type: ignore[arg-type]
    assert with_ce.label == "v9 (learned combiner + cross-encoder)"
