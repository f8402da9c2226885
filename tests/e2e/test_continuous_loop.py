"""The continuous loop on a real stack: feedback alone starts mine → train, once per N new events.

`codesift up` with CODESIFT_LEARN_AFTER_EVENTS=5: four feedback events start nothing, the fifth
starts a mine job, then a train job, by themselves (tiny train options); the next run waits for
five more. The schedule is shown by GET /api/reranker/schedule, `codesift status` and the page.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sample_stack
from tests.integration.stack import ROOT, Stack, codesift

pytestmark = pytest.mark.slow
GOLDEN = ROOT / "tests" / "fixtures" / "sample_golden.json"
TRAIN_OPTIONS = {"epochs": 1, "max_length": 64, "batch_size": 8, "time_budget_s": 10, "min_triplets": 10}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    env = {
        "CODESIFT_LEARN_AFTER_EVENTS": "5",
        "CODESIFT_LEARN_CHECK_S": "0.5",
        "CODESIFT_LEARN_TRAIN_OPTIONS": json.dumps(TRAIN_OPTIONS),
        "CODESIFT_COMBINER": "none",  # the cross-encoder alone: choosing a combiner takes over a minute
    }
    with sample_stack(
        tmp_path_factory.mktemp("loop") / "data", extra=("--golden", str(GOLDEN)), env=env
    ) as s:
        yield s


def wait_for(what: str, found: Callable[[], object], stack: Stack, timeout: float = 60) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := found():
            return value
        time.sleep(0.25)
    raise AssertionError(f"{what} not within {timeout} s:\n{stack.output()[-4000:]}")


def schedule(stack: Stack) -> dict:
    status, body = stack.get("/api/reranker/schedule")
    return body if status == 200 else {}


def learning_jobs(stack: Stack) -> dict[str, dict]:
    return {
        j["job_id"]: j
        for j in stack.get("/api/reranker/status")[1]["jobs"]
        if j["job_id"].startswith("learn-")
    }


def give_feedback(stack: Stack, n: int, stored: int) -> None:
    """n click events on one real search; returns once the telemetry has stored `stored` in all."""
    status, search = stack.get("/api/search?q=where+is+the+bearer+token+checked&k=5")
    assert status == 200
    for i in range(n):
        hit = search["results"][i % len(search["results"])]
        event = {"event_id": uuid.uuid4().hex, "query": search["query"], "doc_id": hit["doc_id"], "rating": 5}
        event |= {
            "source": "click",
            "timestamp": time.time(),
            "query_id": search["query_id"],
            "repo": "sample",
        }
        assert stack.post("/api/telemetry/event", event)[0] == 202
    wait_for(f"{stored} stored events", lambda: schedule(stack).get("events_total") == stored, stack)


def ended(stack: Stack, job_id: str, timeout: float) -> dict:
    def final() -> dict | None:
        job = learning_jobs(stack).get(job_id)
        return job if job and job["state"] in ("succeeded", "failed") else None

    return wait_for(f"the end of {job_id}", final, stack, timeout)  # type: ignore[return-value]


def test_five_feedback_events_start_mine_then_train_and_the_next_run_waits_for_five_more(stack, browser):
    first = wait_for("the trainer's schedule", lambda: schedule(stack), stack)
    assert (first["enabled"], first["after_events"], first["every"], first["events_needed"]) == (
        True,
        5,
        None,
        5,
    )

    give_feedback(stack, 4, stored=4)
    time.sleep(2)  # four checks
    assert learning_jobs(stack) == {}
    assert schedule(stack)["next_run"] == "after 1 more events"

    give_feedback(stack, 1, stored=5)
    mine = ended(stack, "learn-e5-mine", timeout=120)
    assert mine["state"] == "succeeded", mine
    train = ended(stack, "learn-e5-train", timeout=300)
    assert train["state"] == "succeeded", train
    assert train["result"]["feedback_events"] == 5  # recorded in the manifest, for the promoter's gate
    manifest = json.loads(
        (stack.data_dir / "models" / train["result"]["version"] / "manifest.json").read_text()
    )
    assert manifest["feedback_events"] == 5

    after = wait_for("the run's end", lambda: (s := schedule(stack)) and s["running"] is None and s, stack)
    assert (after["last_run_id"], after["last_outcome"], after["events_needed"]) == (
        "learn-e5",
        "succeeded",
        5,
    )
    give_feedback(stack, 4, stored=9)
    time.sleep(2)
    assert set(learning_jobs(stack)) == {"learn-e5-mine", "learn-e5-train"}

    status = codesift("status", data_dir=stack.data_dir)
    assert "learning: after 5 new feedback events; next run after 1 more events" in status.stdout, (
        status.stdout
    )
    page = browser.new_page()
    try:
        page.goto(stack.url + "/reranker")
        expect(page.get_by_test_id("learning-after")).to_have_text("5 new feedback events")
        expect(page.get_by_test_id("learning-since")).to_have_text("4 (of 9 stored)")
        expect(page.get_by_test_id("learning-last")).to_contain_text("learn-e5: succeeded")
        expect(page.get_by_test_id("learning-next")).to_have_text("after 1 more events")
    finally:
        page.close()

    give_feedback(stack, 1, stored=10)
    wait_for("the second run", lambda: "learn-e10-mine" in learning_jobs(stack), stack, timeout=30)
