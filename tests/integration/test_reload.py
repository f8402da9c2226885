"""Hot reload on real processes: nats-server, 2 search replicas, a real trained model in the object store."""

from __future__ import annotations

import asyncio
import fcntl
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import nats
import pytest

from services.search.artifact_cache import entry, lock_file
from services.search.replica import NO_RERANKER
from services.search.reranking import BLEND
from services.search.settings import SearchSettings
from shared import subjects
from shared.artifacts import VERSION_PREFIX
from shared.blend import blend
from shared.schemas import Candidate, CandidatesReply, CandidatesRequest, ModelPointer, encoder
from shared.scoring import CrossEncoderScorer
from shared.streams import Buckets, bootstrap
from tests.conftest import NatsServer, start_nats
from tests.integration.replicas import (
    ReplicaProcess,
    announce_trained,
    build_index,
    promote,
    publish_index,
    put_tampered,
    search,
    upload_model,
    wait_for,
)
from tests.model_fixtures import TINY_VERSION, tiny_model_fixture  # noqa: F401  (fixture `tiny_model`)

pytestmark = pytest.mark.slow

PROMOTED = TINY_VERSION  # announced as trained, prepared by every replica, then promoted
MISSED = VERSION_PREFIX + "20260102-120000"  # promoted without a broadcast: the poll finds it
TAMPERED = VERSION_PREFIX + "20260103-120000"  # its archive in the store no longer matches its sha256
STARTING = VERSION_PREFIX + "20260104-120000"  # promoted while a replica was starting, before it subscribed
QUERIES = ("where is the password hashed", "how are tokens checked", "render a template", "read the config")


@dataclass
class Cluster:
    server: NatsServer
    root: Path
    sha256: str
    archive: bytes
    replicas: list[ReplicaProcess] = field(default_factory=list)

    def start_replica(self, replica_id: str, reload_interval: str = "1") -> ReplicaProcess:
        replica = ReplicaProcess(
            replica_id,
            self.server.url,
            self.root / "data",
            self.root / "cache",
            reranker_reload_interval=reload_interval,
        )
        self.replicas.append(replica)
        return replica


async def _prepare(url: str, model_dir: Path) -> tuple[str, bytes]:
    nc = await nats.connect(url)
    try:
        js = await bootstrap(nc, replicas=1)
        await publish_index(nc, js, build_index(), "reload-test")
        return await upload_model(js, model_dir, aliases=(MISSED, STARTING))
    finally:
        await nc.close()


async def _wait_started(url: str, n: int) -> None:
    nc = await nats.connect(url)
    try:
        await wait_for(nc, n, lambda info: info.index_version == "reload-test", timeout=120, poll=0.2)
    finally:
        await nc.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path):
    root = tmp_path_factory.mktemp("reload")
    server = start_nats(root / "nats")
    try:
        sha256, archive = asyncio.run(_prepare(server.url, tiny_model))
        cluster = Cluster(server, root, sha256, archive)
        for i in (1, 2):
            cluster.start_replica(f"search-{i}")
        try:
            asyncio.run(_wait_started(server.url, 2))
        except TimeoutError:
            pytest.fail("\n".join(r.output()[-3000:] for r in cluster.replicas))
        yield cluster
        codes = {r.replica_id: r.stop() for r in cluster.replicas}
        assert set(codes.values()) == {0}, "\n".join(r.output()[-3000:] for r in cluster.replicas)
    finally:
        for replica in cluster.replicas:
            replica.stop()
        server.stop()


@pytest.fixture
async def bus(cluster: Cluster):
    nc = await nats.connect(cluster.server.url)
    yield nc, nc.jetstream()
    await nc.close()


def label(version: str) -> str:
    return f"{version} ({BLEND})"


async def served_everywhere(nc, version: str | None, timeout: float, n: int = 2):
    return await wait_for(nc, n, lambda info: info.reranker_version == version, timeout=timeout, poll=0.005)


async def fusion_candidates(nc, query: str, k: int) -> list[Candidate]:
    request = encoder.encode(CandidatesRequest(query=query, k=k))
    reply = await nc.request(subjects.SEARCH_CANDIDATES, request, timeout=10)
    return msgspec.json.decode(reply.data, type=CandidatesReply).response.candidates


async def search_load(nc, stop: asyncio.Event, seen: Counter, failures: list[str]) -> None:
    """Search until `stop` is set; count the reranker of every answer, keep every failure."""
    i = 0
    while not stop.is_set():
        try:
            reply = await search(nc, QUERIES[i % len(QUERIES)], k=5, timeout=5)
        except Exception as exc:
            failures.append(repr(exc))
        else:
            if reply.response is None:
                failures.append(str(reply.error))
            else:
                seen[reply.response.reranker] += 1
        i += 1


async def test_a_promotion_reaches_both_replicas_within_a_second_and_no_search_fails(bus, cluster):
    nc, js = bus
    await promote(nc, js, None, None)
    await served_everywhere(nc, None, timeout=10)
    await announce_trained(nc, PROMOTED, cluster.sha256)  # as the trainer does: replicas get it ready
    await wait_for(nc, 2, lambda info: info.reranker_prepared == PROMOTED, timeout=120, poll=0.1)

    stop, seen, failures = asyncio.Event(), Counter(), []
    load = [asyncio.create_task(search_load(nc, stop, seen, failures)) for _ in range(4)]
    await asyncio.sleep(0.5)
    began = time.monotonic()
    await promote(nc, js, PROMOTED, cluster.sha256)
    infos = await served_everywhere(nc, PROMOTED, timeout=5)
    elapsed = time.monotonic() - began
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.gather(*load)

    assert elapsed < 1.0, f"{elapsed:.3f} s from promotion to every replica serving it"
    assert failures == []
    assert set(seen) == {NO_RERANKER, label(PROMOTED)} and sum(seen.values()) > 20
    assert all(info.reranker == label(PROMOTED) and info.reranker_loaded_at for info in infos)
    assert all(info.reranker_error is None for info in infos)


async def test_what_is_served_is_the_blend_of_fusion_and_the_model(bus, cluster, tiny_model):
    nc, js = bus
    await promote(nc, js, PROMOTED, cluster.sha256)
    await served_everywhere(nc, PROMOTED, timeout=30)
    query = "where is the password hashed"
    reply = await search(nc, query, k=10)
    candidates = await fusion_candidates(nc, query, k=20)
    served = SearchSettings()  # the replicas' scoring configuration: int8, pairs one at a time
    scorer = CrossEncoderScorer(tiny_model, quantized=True, batch_size=served.reranker_batch_size)
    scores = scorer.score(query, [c.text for c in candidates])
    order = blend(list(range(len(candidates))), scores, top_n=20)
    expected = [candidates[i].doc_id for i in order[:10]]
    assert expected != [c.doc_id for c in candidates[:10]]  # the model moves something
    assert reply.response.reranker == label(PROMOTED)
    assert [hit.doc_id for hit in reply.response.results] == expected


async def test_a_tampered_artifact_is_refused_and_the_old_model_keeps_serving(bus, cluster):
    nc, js = bus
    await promote(nc, js, PROMOTED, cluster.sha256)
    await served_everywhere(nc, PROMOTED, timeout=30)
    await put_tampered(js, TAMPERED, cluster.archive)
    await promote(nc, js, TAMPERED, cluster.sha256)  # the sha256 of the genuine archive
    infos = await wait_for(nc, 2, lambda info: (info.reranker_error or "").startswith(TAMPERED), timeout=60)
    assert all(info.reranker_version == PROMOTED for info in infos)
    assert all("does not match its sha256" in info.reranker_error for info in infos)
    reply = await search(nc, "how are tokens checked")
    assert reply.response.reranker == label(PROMOTED)
    await asyncio.sleep(1.5)  # a poll of the pointer (every second here) does not retry the refused archive
    infos = await wait_for(nc, 2, lambda info: info.reranker_version == PROMOTED, timeout=5)
    assert all(info.reranker_error.startswith(TAMPERED) for info in infos)


async def test_a_replica_started_after_the_promotion_loads_it_from_the_pointer(bus, cluster):
    nc, js = bus
    await promote(nc, js, PROMOTED, cluster.sha256)
    await served_everywhere(nc, PROMOTED, timeout=30)
    late = cluster.start_replica("search-late")
    try:
        infos = await wait_for(nc, 3, lambda info: info.reranker_version == PROMOTED, timeout=120, poll=0.2)
        assert {info.replica_id for info in infos} == {"search-1", "search-2", "search-late"}
    finally:
        assert late.stop() == 0, late.output()[-3000:]
        cluster.replicas.remove(late)


def logged(replica: ReplicaProcess, text: str) -> bool:
    return any(text in line for line in list(replica.lines))


async def until_logged(replica: ReplicaProcess, text: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not logged(replica, text):
        if replica.process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"{replica.replica_id} never logged {text!r}:\n{replica.output()[-3000:]}")
        await asyncio.sleep(0.05)


async def test_a_promotion_while_a_replica_starts_is_served_without_waiting_for_the_poll(bus, cluster):
    nc, js = bus
    await promote(nc, js, PROMOTED, cluster.sha256)
    await served_everywhere(nc, PROMOTED, timeout=30)
    # Hold the cache lock of PROMOTED's artifact: the starting replica reads the pointer, then
    # waits there, before it has subscribed to `codesift.model.updated`.
    with lock_file(entry(cluster.root / "cache" / "models", PROMOTED, cluster.sha256)).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        late = cluster.start_replica("search-late", reload_interval="3600")  # no poll in this test
        try:
            await until_logged(late, f"search-late loads {PROMOTED}")
            await promote(nc, js, STARTING, cluster.sha256)  # the broadcast cannot reach it
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    try:
        infos = await wait_for(nc, 3, lambda info: info.reranker_version == STARTING, timeout=120, poll=0.2)
        assert {info.replica_id for info in infos} == {"search-1", "search-2", "search-late"}
        assert logged(late, f"search-late loads {STARTING}")
    finally:
        assert late.stop() == 0, late.output()[-3000:]
        cluster.replicas.remove(late)


async def test_a_missed_broadcast_is_caught_by_the_poll_of_the_pointer(bus, cluster):
    nc, js = bus
    await promote(nc, js, PROMOTED, cluster.sha256)
    await served_everywhere(nc, PROMOTED, timeout=30)
    kv = await js.key_value(Buckets.REGISTRY)
    pointer = ModelPointer(version=MISSED, sha256=cluster.sha256, promoted_at=time.time())
    await kv.put("model", encoder.encode(pointer))  # and no broadcast
    infos = await served_everywhere(nc, MISSED, timeout=60)  # downloaded: it was never announced
    assert all(info.reranker_error is None for info in infos)


async def test_no_reranker_goes_back_to_fusion_order(bus, cluster):
    nc, js = bus
    await promote(nc, js, None, None)
    await served_everywhere(nc, None, timeout=5)
    query = "render a template"
    reply = await search(nc, query, k=5)
    candidates = await fusion_candidates(nc, query, k=5)
    assert reply.response.reranker == NO_RERANKER
    assert [h.doc_id for h in reply.response.results] == [c.doc_id for c in candidates]
