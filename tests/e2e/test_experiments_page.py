"""An online experiment on a real `codesift up` stack, through the CLI, a replica, telemetry and the page.

A candidate (a learned combiner that puts documentation first) is registered like the trainer
registers one; `codesift experiment start` puts it in an experiment; the replica interleaves every
search (CODESIFT_INTERLEAVE_SHARE=1) and records each result's team; clicks on the candidate's
results reach the tally, which the reranker page shows in Chromium and from which it stops the
experiment.
"""

from __future__ import annotations

import time
import urllib.parse
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from shared.artifacts import put_model
from shared.impressions import find_impression
from shared.schemas import ModelTrained, encoder
from shared.streams import Buckets, bootstrap
from tests.combiner_fixtures import combiner_artifact
from tests.e2e.test_reranker_page import run
from tests.integration.stack import ROOT, Stack, codesift

pytestmark = pytest.mark.slow

CANDIDATE = "cross-encoder-codesift-20260301-000000"
PREFERS_DOCS = {"file_docs": 3.0, "fusion_rank_log": -1.0}
QUERIES = ("how is the configuration loaded", "where are passwords hashed", "how are tokens checked")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    """This module's own stack: one replica that interleaves every search of a running experiment."""
    s = Stack(
        tmp_path_factory.mktemp("experiments") / "data", replicas=1, env={"CODESIFT_INTERLEAVE_SHARE": "1"}
    )
    try:
        s.wait_ready()
        done = codesift(
            "index", str(ROOT / "tests/fixtures/sample_repo"), "--name", "sample", data_dir=s.data_dir
        )
        assert done.returncode == 0, done.stdout + done.stderr
        s.wait_replicas(1)
        yield s
    finally:
        s.stop()


async def register(stack: Stack, models: Path) -> None:
    """Upload and register the candidate as the trainer does (as the trainer's NATS user)."""
    nc = await stack.nats_connect("trainer")
    try:
        js = await bootstrap(nc)
        sha256 = await put_model(js, combiner_artifact(models, CANDIDATE, PREFERS_DOCS))
        trained = ModelTrained(time.time(), CANDIDATE, sha256, "train-e2e", {"golden": 40})
        await (await js.key_value(Buckets.REGISTRY)).put(f"trained.{CANDIDATE}", encoder.encode(trained))
    finally:
        await nc.close()


async def candidate_results(stack: Stack, query_id: str) -> list[tuple[int, str]]:
    nc = await stack.nats_connect()
    try:
        impression = await find_impression(nc.jetstream(), query_id)
    finally:
        await nc.close()
    assert impression is not None and impression.experiment is not None
    assert {r.side for r in impression.results} == {"production", "candidate"}
    return [(r.position, r.doc_id) for r in impression.results if r.side == "candidate"]


def wait_for_experiment(stack: Stack, experiment_id: str | None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        replicas = stack.health()["replicas"]
        if replicas and all(r.get("experiment") == experiment_id for r in replicas):
            return
        assert time.monotonic() < deadline, f"replicas never reached experiment {experiment_id}: {replicas}"
        time.sleep(0.2)


def test_clicks_on_the_candidates_results_show_as_wins_on_the_page_which_stops_it(
    admin_page: Page, stack: Stack, tmp_path: Path
) -> None:
    run(register(stack, tmp_path / "models"))
    started = codesift("experiment", "start", CANDIDATE, data_dir=stack.data_dir)
    assert started.returncode == 0, started.stderr
    experiment_id = started.stdout.split()[1].rstrip(":")
    wait_for_experiment(stack, experiment_id)

    for query in QUERIES:
        status, body = stack.get("/api/search?" + urllib.parse.urlencode({"q": query}))
        assert status == 200 and f"interleaved with {CANDIDATE}" in body["reranker"]
        position, doc_id = run(candidate_results(stack, body["query_id"]))[0]
        click = {
            "event_id": uuid.uuid4().hex,
            "query": query,
            "doc_id": doc_id,
            "rating": 5,
            "source": "click",
            "timestamp": time.time(),
            "query_id": body["query_id"],
            "position": position,
        }
        assert stack.post("/api/telemetry/event", click)[0] == 202

    page = admin_page
    page.goto(stack.url + "/reranker")
    row = page.locator(f"#experiments tr[data-experiment='{experiment_id}']")
    expect(row.get_by_test_id("experiment-wins")).to_have_text("3", timeout=20_000)  # the page polls
    expect(row).to_contain_text(CANDIDATE)
    expect(row).to_contain_text("running")
    expect(row.get_by_test_id("experiment-p")).to_have_text("0.250")  # 3 wins, 0 losses: 2 / 2**3
    expect(row.get_by_test_id("experiment-winner")).to_have_text("not yet")

    with page.expect_response(lambda r: r.url.endswith("/api/reranker/experiment/stop")) as answer:
        page.get_by_test_id("experiment-stop").click()
    assert answer.value.status == 200
    expect(row).to_contain_text("stopped")
    expect(page.get_by_test_id("experiment-stop")).to_be_hidden()
    wait_for_experiment(stack, None)
    status, body = stack.get("/api/search?q=configuration")
    assert status == 200 and "interleaved" not in body["reranker"]

    listed = codesift("experiment", "status", data_dir=stack.data_dir)
    assert listed.returncode == 0 and "3 wins, 0 losses, 0 ties" in listed.stdout
    assert "stopped" in listed.stdout


def test_the_cli_explains_what_it_cannot_do(stack: Stack) -> None:
    unknown = codesift(
        "experiment", "start", "cross-encoder-codesift-20990101-000000", data_dir=stack.data_dir
    )
    assert unknown.returncode == 1 and "is not a registered model" in unknown.stderr
    nothing = codesift("experiment", "stop", data_dir=stack.data_dir)
    assert nothing.returncode == 1 and "no experiment is running" in nothing.stderr
