"""A search replica process serving learned combiners promoted through the registry, on a real nats-server.

The artifacts are made by hand (tests/combiner_fixtures.py). Those whose combiner does not use the
cross-encoder carry stand-in cross-encoder files that no session can open: the replica serves
them only because it never opens its cross-encoder for such a model.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import nats
import pytest

from services.search.reranking import COMBINER, COMBINER_CE
from services.search.settings import SearchSettings
from shared import subjects
from shared.combiner import Combiner
from shared.ranking import served_order
from shared.schemas import Candidate, CandidatesReply, CandidatesRequest, encoder
from shared.scoring import CrossEncoderScorer
from shared.streams import bootstrap
from tests.combiner_fixtures import combiner_artifact
from tests.conftest import NatsServer, start_nats
from tests.integration.replicas import (
    ReplicaProcess,
    build_index,
    promote,
    publish_index,
    search,
    upload_model,
    wait_for,
)
from tests.model_fixtures import tiny_model_fixture  # noqa: F401  (fixture `tiny_model`)

pytestmark = pytest.mark.slow  # a replica process takes ~10 s to start

PREFERS_DOCS = {"file_docs": 3.0, "fusion_rank_log": -1.0}  # documentation first, then fusion order
FOLLOWS_CE = {"ce_logit": 1.0, "file_docs": 0.5}
DOCS = "cross-encoder-codesift-20260201-000000"
UNREADABLE = "cross-encoder-codesift-20260202-000000"  # trained on other features than this build's
WITH_CE = "cross-encoder-codesift-20260203-000000"
QUERY = "how are tokens checked"
TOP_N = SearchSettings().reranker_topn  # the replica runs with the default


class Replica:
    def __init__(self, server: NatsServer, root: Path, process: ReplicaProcess):
        self.server, self.root, self.process = server, root, process


async def _publish_index(url: str) -> None:
    nc = await nats.connect(url)
    try:
        js = await bootstrap(nc, replicas=1)
        await publish_index(nc, js, build_index(), "combiner-test")
        await wait_for(nc, 1, lambda info: info.index_version == "combiner-test", timeout=120, poll=0.2)
    finally:
        await nc.close()


@pytest.fixture(scope="module")
def replica(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("combiner")
    server = start_nats(root / "nats")
    process = ReplicaProcess(
        "search-c", server.url, root / "data", root / "cache", reranker_reload_interval="60"
    )
    try:
        try:
            asyncio.run(_publish_index(server.url))
        except TimeoutError:
            pytest.fail(process.output()[-3000:])
        yield Replica(server, root, process)
        assert process.stop() == 0, process.output()[-3000:]
    finally:
        process.stop()
        server.stop()


@pytest.fixture
async def bus(replica: Replica):
    nc = await nats.connect(replica.server.url)
    yield nc, nc.jetstream()
    await nc.close()


async def serve(nc, js, directory: Path) -> None:
    """Upload the artifact, promote it and wait until the replica serves it."""
    sha256, _ = await upload_model(js, directory)
    await promote(nc, js, directory.name, sha256)
    await wait_for(nc, 1, lambda info: info.reranker_version == directory.name, timeout=60, poll=0.01)


async def fusion_candidates(nc, query: str, k: int) -> list[Candidate]:
    request = encoder.encode(CandidatesRequest(query=query, k=k))
    reply = await nc.request(subjects.SEARCH_CANDIDATES, request, timeout=10)
    return msgspec.json.decode(reply.data, type=CandidatesReply).response.candidates


async def test_a_combiner_orders_what_is_served_and_its_unused_cross_encoder_is_never_opened(
    bus, replica, tmp_path
):
    nc, js = bus
    directory = combiner_artifact(tmp_path, DOCS, PREFERS_DOCS)  # stand-in cross-encoder files
    await serve(nc, js, directory)

    reply = await search(nc, QUERY, k=10)
    candidates = await fusion_candidates(nc, QUERY, k=TOP_N)
    order = served_order(QUERY, candidates, TOP_N, combiner=Combiner(directory))
    expected = [candidates[position].doc_id for position, _ in order[:10]]
    assert expected != [c.doc_id for c in candidates[:10]]  # the combiner moves something
    served = [candidates[position] for position, _ in order[:10]]
    docs = sum(c.file_kind == "docs" for c in candidates)
    assert docs and all(c.file_kind == "docs" for c in served[:docs])  # documentation first
    assert reply.response.reranker == f"{DOCS} ({COMBINER})"
    assert [hit.doc_id for hit in reply.response.results] == expected


async def test_a_combiner_this_build_cannot_read_is_refused_and_the_old_model_keeps_serving(
    bus, replica, tmp_path
):
    nc, js = bus
    await serve(nc, js, combiner_artifact(tmp_path, DOCS, PREFERS_DOCS))
    bad = combiner_artifact(tmp_path, UNREADABLE, PREFERS_DOCS, meta={"features": ["fusion_rank_log"]})
    sha256, _ = await upload_model(js, bad)
    await promote(nc, js, UNREADABLE, sha256)

    [info] = await wait_for(nc, 1, lambda i: (i.reranker_error or "").startswith(UNREADABLE), timeout=60)
    assert info.reranker_version == DOCS and "trained on features" in info.reranker_error
    reply = await search(nc, QUERY)
    assert reply.response.reranker == f"{DOCS} ({COMBINER})"


async def test_a_combiner_that_uses_the_cross_encoder_is_served_with_its_scores(
    bus, replica, tmp_path, tiny_model
):
    nc, js = bus
    directory = combiner_artifact(
        tmp_path, WITH_CE, FOLLOWS_CE, cross_encoder=tiny_model, uses_cross_encoder=True
    )
    await serve(nc, js, directory)

    reply = await search(nc, QUERY, k=10)
    candidates = await fusion_candidates(nc, QUERY, k=TOP_N)
    scorer = CrossEncoderScorer(tiny_model, quantized=True, batch_size=SearchSettings().reranker_batch_size)
    scores = scorer.score(QUERY, [c.text for c in candidates[:TOP_N]])
    order = served_order(QUERY, candidates, TOP_N, combiner=Combiner(directory), ce_scores=scores)
    assert reply.response.reranker == f"{WITH_CE} ({COMBINER_CE})"
    assert [hit.doc_id for hit in reply.response.results] == [candidates[p].doc_id for p, _ in order[:10]]
