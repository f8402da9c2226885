"""Metrics for operators on a real stack: every process scraped before and after searches, feedback
and a train job; the counters and histograms move by exactly what was done, and every scrape is
text that prometheus_client's parser reads."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest
from prometheus_client.samples import Sample

from shared import subjects
from shared.bus import stack_file
from tests.integration.stack import Stack, codesift
from tests.integration.test_learning import FIXTURE_REPO, GOLDEN, TINY, post_event
from tests.prometheus_samples import parse, total

pytestmark = pytest.mark.slow
PROCESSES = {"gateway", "indexer", "search-1", "search-2", "telemetry", "trainer", "evaluator", "promoter"}
REPLICAS = ("search-1", "search-2")
SEARCHES = 6
EVENTS = 4
Scrape = dict[str, list[Sample]]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    s = Stack(tmp_path_factory.mktemp("metrics") / "data", replicas=2, extra=("--golden", str(GOLDEN)))
    try:
        s.wait_ready()
        done = codesift("index", str(FIXTURE_REPO), "--name", "sample", data_dir=s.data_dir)
        assert done.returncode == 0, done.stdout + done.stderr
        s.wait_replicas(2)
        yield s
    finally:
        s.stop()


def scrape(stack: Stack) -> Scrape:
    """Every process's metrics, from the URLs `codesift up` recorded; each parsed (it raises on bad text)."""
    urls = json.loads(stack_file(stack.data_dir).read_text())["metrics"]
    assert set(urls) == PROCESSES
    found = {}
    for process, url in urls.items():
        with urllib.request.urlopen(url, timeout=10) as answer:
            assert answer.headers["Content-Type"].startswith("text/plain"), process
            found[process] = parse(answer.read().decode())
    return found


def replicas_total(scraped: Scrape, name: str, **labels: str) -> float:
    return sum(total(scraped[r], name, **labels) for r in REPLICAS)


def wait_for(stack: Stack, ready, timeout: float = 60) -> Scrape:
    """Scrape until `ready(scrape)` holds (work that ends after the HTTP answer: logging, jobs)."""
    deadline = time.monotonic() + timeout
    while True:
        scraped = scrape(stack)
        if ready(scraped) or time.monotonic() > deadline:
            return scraped
        time.sleep(0.5)


def search(stack: Stack, query: str, **params: object) -> tuple[int, dict]:
    return stack.get("/api/search?" + urllib.parse.urlencode({"q": query, **params}))


def feedback(stack: Stack, body: dict) -> int:
    try:
        return post_event(stack, body)
    except urllib.error.HTTPError as exc:
        return exc.code


async def publish_poison(stack: Stack) -> None:
    """A message no gateway would send, straight into FEEDBACK (another client, a bug)."""
    nc = await stack.nats_connect()  # the CLI's user may send feedback
    try:
        await nc.jetstream().publish(subjects.TELEMETRY_FEEDBACK, b'{"event_id": 7}', stream="FEEDBACK")
    finally:
        await nc.close()


def test_every_process_serves_what_it_holds(stack: Stack):
    scraped = scrape(stack)
    assert total(scraped["indexer"], "codesift_jobs_total", kind="index", outcome="succeeded") == 1
    assert total(scraped["indexer"], "codesift_job_duration_seconds_count", kind="index") == 1
    index_version = stack.health()["replicas"][0]["index_version"]
    for replica in REPLICAS:
        samples = scraped[replica]
        assert total(samples, "codesift_reranker_info", replica=replica, version="none") == 1
        assert total(samples, "codesift_reranker_loaded_timestamp_seconds", replica=replica) > 0
        assert total(samples, "codesift_index_info", replica=replica, version=index_version) == 1
        assert total(samples, "codesift_index_chunks", replica=replica) > 0
    for process, samples in scraped.items():
        assert total(samples, "process_resident_memory_bytes") > 0, process


def test_searches_and_feedback_move_the_counters_by_what_was_done(stack: Stack):
    before = scrape(stack)
    for i in range(SEARCHES):
        status, body = search(stack, f"where is the bearer token checked {i}", k=5)
        assert status == 200
    assert search(stack, "token", k=500)[0] == 400  # refused by the gateway: no replica asked
    assert search(stack, "token", repo="nowhere")[0] == 400  # refused by a replica
    now = time.time()
    events = [
        {"event_id": uuid.uuid4().hex, "query": body["query"], "doc_id": hit["doc_id"], "rating": 5,
         "source": "click", "timestamp": now, "query_id": body["query_id"], "position": i, "repo": "sample"}
        for i, hit in enumerate(body["results"][:EVENTS], start=1)
    ]  # fmt: skip
    assert len(events) == EVENTS
    assert all(feedback(stack, event) == 202 for event in events)
    assert feedback(stack, events[0]) == 202  # sent again: accepted, stored once
    assert feedback(stack, events[0] | {"event_id": "bad", "rating": 9}) == 400
    asyncio.run(publish_poison(stack))

    def logged(scraped: Scrape) -> bool:
        stored = total(scraped["telemetry"], "codesift_feedback_stored_total")
        dead = total(scraped["telemetry"], "codesift_feedback_dead_lettered_total")
        return (stored, dead) >= (total(before["telemetry"], "codesift_feedback_stored_total") + EVENTS, 1)

    after = wait_for(stack, logged)

    def moved(process: str, name: str, **labels: str) -> float:
        if process == "replicas":
            return replicas_total(after, name, **labels) - replicas_total(before, name, **labels)
        return total(after[process], name, **labels) - total(before[process], name, **labels)

    gateway = {
        "ok": moved("gateway", "codesift_gateway_searches_total", outcome="ok"),
        "invalid": moved("gateway", "codesift_gateway_searches_total", outcome="invalid"),
        "timed": moved("gateway", "codesift_gateway_search_seconds_count"),
        "accepted": moved("gateway", "codesift_feedback_accepted_total"),
        "refused": moved("gateway", "codesift_feedback_refused_total", reason="invalid"),
    }
    assert gateway == {"ok": SEARCHES, "invalid": 2, "timed": SEARCHES, "accepted": EVENTS + 1, "refused": 1}
    stage = "codesift_search_stage_seconds_count"
    replicas = {
        "ok": moved("replicas", "codesift_searches_total", outcome="ok"),
        "refused": moved("replicas", "codesift_searches_total", outcome="refused"),
        "error": moved("replicas", "codesift_searches_total", outcome="error"),
        **{s: moved("replicas", stage, stage=s) for s in ("retrieval", "total", "impression")},
        **{s: moved("replicas", stage, stage=s) for s in ("cross_encoder", "features")},  # no model served
    }
    assert replicas == {"ok": SEARCHES, "refused": 1, "error": 0, "retrieval": SEARCHES, "total": SEARCHES,
                        "impression": SEARCHES, "cross_encoder": 0, "features": 0}  # fmt: skip
    # the gateway's view of a search includes the replica's, which includes its retrieval
    assert (
        moved("gateway", "codesift_gateway_search_seconds_sum")
        > moved("replicas", "codesift_search_stage_seconds_sum", stage="total")
        > moved("replicas", "codesift_search_stage_seconds_sum", stage="retrieval")
        > 0
    )
    telemetry = {
        "stored": moved("telemetry", "codesift_feedback_stored_total"),
        "duplicates": moved("telemetry", "codesift_feedback_duplicates_total"),  # JetStream kept one copy
        "dead": moved("telemetry", "codesift_feedback_dead_lettered_total"),
        "lag": moved("telemetry", "codesift_telemetry_lag_seconds_count"),
    }
    assert telemetry == {"stored": EVENTS, "duplicates": 0, "dead": 1, "lag": EVENTS}
    assert 0 < moved("telemetry", "codesift_telemetry_lag_seconds_sum") < 30 * EVENTS
    assert total(after["telemetry"], "codesift_telemetry_pending_messages") == 0


def test_a_train_job_counts_its_jobs_and_the_promotion_decision_by_gate(stack: Stack):
    before = scrape(stack)
    mined = codesift("mine", "--source", "all", "--golden", str(GOLDEN), "--wait", data_dir=stack.data_dir)
    assert mined.returncode == 0, mined.stdout + mined.stderr
    trained = codesift("train", *TINY, "--wait", data_dir=stack.data_dir, timeout=600)
    assert trained.returncode == 0, trained.stdout + trained.stderr
    decisions = "codesift_promotion_decisions_total"
    after = wait_for(  # the evaluator evaluates the new model by itself, then the promoter decides
        stack, lambda s: total(s["promoter"], decisions) > total(before["promoter"], decisions), timeout=300
    )

    def moved(process: str, name: str, **labels: str) -> float:
        return total(after[process], name, **labels) - total(before[process], name, **labels)

    jobs = {
        (process, kind, outcome): moved(process, "codesift_jobs_total", kind=kind, outcome=outcome)
        for process, kind in (("trainer", "mine"), ("trainer", "train"), ("evaluator", "evaluate"))
        for outcome in ("succeeded", "failed")
    }
    assert jobs == {
        ("trainer", "mine", "succeeded"): 1, ("trainer", "mine", "failed"): 0,
        ("trainer", "train", "succeeded"): 1, ("trainer", "train", "failed"): 0,
        ("evaluator", "evaluate", "succeeded"): 1, ("evaluator", "evaluate", "failed"): 0,
    }  # fmt: skip
    train_seconds = moved("trainer", "codesift_job_duration_seconds_sum", kind="train", outcome="succeeded")
    assert moved("trainer", "codesift_job_duration_seconds_count", kind="train", outcome="succeeded") == 1
    assert 1 < train_seconds < 600
    assert total(after["trainer"], "codesift_jobs_running") == 0
    assert moved("promoter", decisions, action="promote", forced="false") == 1
    promoted = moved("promoter", decisions, action="promote", outcome="promoted") == 1
    gates = ("triplets", "evaluated", "mrr", "interval", "hit5", "events", "artifact")
    verdicts = {gate: moved("promoter", "codesift_promotion_gate_checks_total", gate=gate) for gate in gates}
    assert verdicts == dict.fromkeys(gates, 1)  # one decision: one verdict per gate
    failed = moved("promoter", "codesift_promotion_gate_checks_total", result="failed")
    assert (failed == 0) == promoted

    served = wait_for(  # a promoted model is served by both replicas; a refused one by neither
        stack,
        lambda s: all(
            total(s[r], "codesift_reranker_info", replica=r, version="none") == (0 if promoted else 1)
            for r in REPLICAS
        ),
        timeout=60,
    )
    for replica in REPLICAS:
        assert total(served[replica], "codesift_reranker_info", replica=replica, version="none") == (
            0 if promoted else 1
        )
