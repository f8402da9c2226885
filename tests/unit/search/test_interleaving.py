"""A replica in an online experiment: a share of searches shows a team draft of both rankings."""

from __future__ import annotations

import random

import msgspec

from services.search.replica import Replica, RunningExperiment
from services.search.reranking import LoadedReranker, rerank
from services.search.score_cache import ScoreCache
from services.search.settings import SearchSettings
from shared.interleaving import CANDIDATE, PRODUCTION, team_draft
from shared.schemas import IndexUpdated
from tests.unit.search.test_reranking import HashEmbedder
from tests.unit.search.test_reranking_combiner import QUERY, TEST_FILE, combiners, fusion, index, search  # noqa: F401


def replica_in_experiment(index, combiner, share: float) -> Replica:  # noqa: F811
    settings = SearchSettings(replica_id="r1", reranker_topn=10, interleave_share=share)
    replica = Replica(settings, HashEmbedder())  # type: ignore[arg-type]
    pointer = IndexUpdated(timestamp=0.0, version="idx1", sha256="0" * 64, chunks=len(index.chunks), repos={})
    replica.swap(index, pointer)
    candidate = LoadedReranker("cand-v1", "ab" * 32, None, combiner)
    replica.experiment = RunningExperiment("exp123", candidate)
    return replica


def test_an_interleaved_search_is_the_team_draft_of_both_rankings_and_records_each_team(index, combiners):  # noqa: F811
    replica = replica_in_experiment(index, combiners["tests"], share=1.0)
    replica.coin = random.Random(3)
    response, impression = search(replica, k=10)

    candidates = fusion(replica, 20)
    production = [c.doc_id for c in candidates]  # no production model: fusion order
    reordered = rerank(replica.experiment.candidate, ScoreCache(10), QUERY, candidates, 10)
    candidate_order = [candidates[i].doc_id for i, _ in reordered]
    assert candidate_order != production  # the candidate puts the test file first
    coin = random.Random(3)
    coin.random()  # the replica's first draw decided that this search interleaves
    expected = team_draft(production, candidate_order, 10, coin)
    assert [(r.doc_id, r.side) for r in impression.results] == expected
    assert [h.doc_id for h in response.results] == [doc for doc, _ in expected]
    assert impression.experiment == "exp123" and replica.info().experiment == "exp123"
    assert {r.side for r in impression.results} == {PRODUCTION, CANDIDATE}
    assert "interleaved with cand-v1" in response.reranker
    assert any(
        r.path == TEST_FILE for r in impression.results[:2]
    )  # the candidate's first pick is near the top


def test_the_share_decides_how_many_searches_interleave(index, combiners):  # noqa: F811
    none = replica_in_experiment(index, combiners["tests"], share=0.0)
    _, impression = search(none)
    assert impression.experiment is None and all(r.side is None for r in impression.results)

    half = replica_in_experiment(index, combiners["tests"], share=0.5)
    half.coin = random.Random(11)
    interleaved = sum(search(half)[1].experiment is not None for _ in range(200))
    assert 70 < interleaved < 130

    half.experiment = None  # stopped: production alone, no side recorded
    _, impression = half.search(msgspec.json.encode({"query": "passwords"}))
    assert impression.experiment is None and all(r.side is None for r in impression.results)


def test_a_candidate_promoted_meanwhile_is_not_interleaved_with_itself(index, combiners):  # noqa: F811
    replica = replica_in_experiment(index, combiners["tests"], share=1.0)
    replica.swap_reranker(replica.experiment.candidate)  # the candidate became production
    _, impression = search(replica)
    assert impression.experiment is None and all(r.side is None for r in impression.results)
