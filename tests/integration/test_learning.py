"""The learning loop on a real stack: feedback → mine → train → ONNX artifact in the object store."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
import uuid
from pathlib import Path

import psutil
import pytest

from tests.integration.stack import ROOT, Stack, codesift

pytestmark = pytest.mark.slow
FIXTURE_REPO = ROOT / "tests" / "fixtures" / "sample_repo"
GOLDEN = ROOT / "tests" / "fixtures" / "sample_golden.json"
TINY = ("--epochs", "1", "--max-length", "64", "--batch-size", "8", "--time-budget", "120", "--min", "10")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    s = Stack(tmp_path_factory.mktemp("learning") / "data", replicas=2, extra=("--golden", str(GOLDEN)))
    try:
        s.wait_ready()
        done = codesift("index", str(FIXTURE_REPO), "--name", "sample", data_dir=s.data_dir)
        assert done.returncode == 0, done.stdout + done.stderr + stack.output()[-4000:]
        s.wait_replicas(2)
        yield s
    finally:
        s.stop()


def post_event(stack: Stack, event: dict) -> int:
    request = urllib.request.Request(
        stack.url + "/api/telemetry/event", json.dumps(event).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        return r.status


def published_models(stack: Stack) -> set[str]:
    models = stack.data_dir / "models"
    return {p.name for p in models.iterdir() if not p.name.startswith(".tmp")} if models.is_dir() else set()


def trainer_pid(stack: Stack) -> int:
    for child in psutil.Process(stack.process.pid).children(recursive=True):
        if "services.trainer" in " ".join(child.cmdline()):
            return child.pid
    raise AssertionError("no trainer process")


@pytest.fixture(scope="module")
def mined(stack: Stack) -> dict:
    """Two feedback events on one search, then mined from every source; what the search showed.

    Each test that needs triplets or a model asks for them through a fixture, so tests do not
    depend on each other's order or success: a failure here is reported by every test using it."""
    status, body = stack.get("/api/search?q=where+is+the+bearer+token+checked&k=5")
    assert status == 200
    hits = body["results"]
    now = time.time()
    events = [(hits[2], 5, "click", 3), (hits[0], 1, "thumbs_down", 1)]
    for hit, rating, source, position in events:
        event = {"event_id": uuid.uuid4().hex, "query": body["query"], "doc_id": hit["doc_id"]}
        event |= {"rating": rating, "source": source, "timestamp": now, "query_id": body["query_id"]}
        event |= {"position": position, "repo": "sample"}
        assert post_event(stack, event) == 202
    log = stack.data_dir / "logs" / "queries.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 2):
        time.sleep(0.2)
    mined = codesift("mine", "--source", "all", "--golden", str(GOLDEN), "--wait", data_dir=stack.data_dir)
    assert mined.returncode == 0, mined.stdout + mined.stderr
    assert "labels: 5 intact; re-attached by content hash 0, symbol 0, overlap 0; 0 lost" in mined.stdout
    return body


@pytest.fixture(scope="module")
def trained(stack: Stack, mined: dict) -> Path:
    """The model directory one tiny train job made."""
    trained = codesift("train", *TINY, "--wait", data_dir=stack.data_dir, timeout=600)
    assert trained.returncode == 0, trained.stdout + trained.stderr
    models = [name for name in published_models(stack) if name.startswith("cross-encoder-codesift-")]
    assert len(models) == 1, models
    return stack.data_dir / "models" / models[0]


def test_feedback_is_mined_with_the_click_positive_and_the_thumbs_down_negative(stack: Stack, mined: dict):
    hits = mined["results"]
    triplets = [
        json.loads(line) for line in (stack.data_dir / "training" / "triplets.jsonl").read_text().splitlines()
    ]
    sources = {t["source"] for t in triplets}
    assert {"logs", "bootstrap"} <= sources
    from_logs = [t for t in triplets if t["source"] == "logs"]
    assert from_logs[0]["positive_doc_id"] == hits[2]["doc_id"]
    assert hits[0]["doc_id"] in from_logs[0]["negative_doc_ids"]  # thumbed down (and shown above the click)
    logged = [
        json.loads(line) for line in (stack.data_dir / "logs" / "queries.jsonl").read_text().splitlines()
    ]
    assert all(
        len(line["content_hash"]) == 40 and line["fingerprint"] for line in logged
    )  # from the impression
    assert (stack.data_dir / "training" / "split.json").exists()


def test_train_makes_a_verified_model_with_its_combiner(stack: Stack, trained: Path):
    files = {p.name for p in trained.iterdir()}
    assert {"model.onnx", "model.int8.onnx", "manifest.json", "tokenizer.json"} <= files
    manifest = json.loads((trained / "manifest.json").read_text())
    assert manifest["version"] == trained.name
    from services.trainer.manifest import verify_manifest
    from shared.combiner import read_meta

    verify_manifest(trained)  # every sha256 matches
    parity = manifest["parity"]
    assert parity["pairs"] >= parity["thresholds"]["min_pairs"]
    assert parity["int8"]["rel_error"] <= parity["thresholds"]["int8_rel_error"]
    # the combiner learned over the fusion candidates the replicas gave the trainer, in the same artifact
    assert {"combiner.onnx", "combiner.json"} <= set(manifest["files"]), manifest.get("combiner_skipped")
    meta = read_meta(trained)
    assert manifest["combiner"]["kind"] == meta["kind"]
    assert manifest["combiner"]["groups"].get("bootstrap", 0) > 0
    assert sum(manifest["combiner"]["importances"].values()) == pytest.approx(1.0, abs=1e-4)
    assert not [p for p in (stack.data_dir / "models").iterdir() if p.name.startswith(".tmp")]

    status_out = codesift("status", data_dir=stack.data_dir)
    assert "succeeded" in status_out.stdout
    logs = codesift("logs", data_dir=stack.data_dir)
    assert logs.returncode == 0 and "train" in logs.stdout


def wait_job(stack: Stack, kind: str, timeout: float = 180) -> dict:
    """The newest job of `kind` once it has ended (from /api/reranker/status)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = [j for j in stack.get("/api/reranker/status")[1]["jobs"] if j["kind"] == kind]
        if jobs and jobs[0]["state"] in ("succeeded", "failed"):
            return jobs[0]
        time.sleep(0.5)
    raise AssertionError(f"no {kind} job ended: {stack.output()[-3000:]}")


def test_trained_model_is_evaluated_gated_then_forced_served_by_both_replicas_and_rolled_back(
    stack: Stack, trained: Path
):
    """The loop after `codesift train`: evaluated by itself; promoted only through the gates."""
    version = trained.name
    evaluation = wait_job(stack, "evaluate")
    assert evaluation["state"] == "succeeded", evaluation["message"]
    latest = stack.get("/api/reranker/eval/latest")[1]
    assert latest["version"] == version
    assert set(latest["metrics"]) >= {"mrr", "hit_at_1", "hit_at_3", "hit_at_5", "hit_at_10", "ndcg_at_10"}
    assert "none" in latest["baselines"] and "none" in latest["intervals"]
    info = stack.get("/api/reranker/info")[1]
    interval_low = latest["intervals"]["none"]["low"]
    if interval_low <= 0:  # a model that does not beat no reranker is not promoted by itself
        time.sleep(2)
        assert info["production"] is None or info["production"]["version"] != version

    # promote by hand past the gates: every replica serves it, searches during the swap all succeed
    codes: list[int] = []
    import threading

    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            codes.append(stack.get("/api/search?q=password+hashing&k=5")[0])

    worker = threading.Thread(target=load)
    worker.start()
    try:
        done = codesift("promote", "--model", version, "--force", data_dir=stack.data_dir)
        assert done.returncode == 0, done.stdout + done.stderr + stack.output()[-4000:]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            replicas = stack.health()["replicas"]
            if len(replicas) == 2 and all(r.get("reranker_version") == version for r in replicas):
                break
            time.sleep(0.1)
        else:
            raise AssertionError(f"replicas did not load {version}: {stack.health()}")
        time.sleep(1)
    finally:
        stop.set()
        worker.join()
    assert codes and set(codes) == {200}, codes
    body = stack.get("/api/search?q=password+hashing&k=5")[1]
    assert version in body["reranker"]
    info = codesift("info", data_dir=stack.data_dir)
    assert version in info.stdout

    rolled = codesift("rollback", data_dir=stack.data_dir)
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if all(not r.get("reranker_version") for r in stack.health()["replicas"]):
            break
        time.sleep(0.1)
    assert stack.get("/api/search?q=password+hashing&k=5")[1]["reranker"].startswith("none")


def test_bad_train_options_are_refused_before_anything_is_sent(stack: Stack):
    bad = codesift("train", "--loss", "hinge", data_dir=stack.data_dir)
    assert bad.returncode != 0 and "--loss" in bad.stderr
    bad = codesift("train", "--epochs", "-2", data_dir=stack.data_dir)
    assert bad.returncode != 0 and "--epochs" in bad.stderr


def test_too_few_triplets_fails_the_job_with_the_count(stack: Stack, mined: dict):
    done = codesift("train", "--min", "100000", "--wait", data_dir=stack.data_dir, timeout=300)
    assert done.returncode != 0
    assert "triplets (< 100000); abort" in done.stderr and "Only " in done.stderr


def test_second_job_while_one_runs_is_already_running_and_a_killed_trainer_fails_its_job(
    stack: Stack, mined: dict
):
    first = codesift("train", *TINY, data_dir=stack.data_dir)
    assert first.returncode == 0, first.stderr
    job_id = first.stdout.split()[2]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the trainer holds the job
        second = codesift("train", *TINY, data_dir=stack.data_dir)
        if second.returncode != 0:
            break
        time.sleep(0.3)
    assert "already running" in second.stderr and job_id in second.stderr
    before = published_models(stack)
    os.kill(trainer_pid(stack), signal.SIGKILL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        out = codesift("status", data_dir=stack.data_dir).stdout
        line = next((ln for ln in out.splitlines() if job_id in ln), "")
        if "failed" in line:
            break
        time.sleep(0.5)
    assert "failed" in line, out
    assert published_models(stack) == before  # nothing half-written registered
    # the trainer is back and takes jobs again
    again = codesift("train", "--min", "100000", "--wait", data_dir=stack.data_dir, timeout=300)
    assert "abort" in again.stderr
