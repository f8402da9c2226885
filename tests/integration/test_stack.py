"""The whole stack, for real: `codesift up` with 2 replicas, indexing through the CLI, search over HTTP."""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import time
import urllib.parse
from pathlib import Path

import psutil
import pytest

from tests.integration.stack import ROOT, Stack, codesift

FIXTURE_REPO = ROOT / "tests" / "fixtures" / "sample_repo"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    s = Stack(tmp_path_factory.mktemp("stack") / "data", replicas=2)
    try:
        s.wait_ready()
        done = codesift("index", str(FIXTURE_REPO), "--name", "sample", data_dir=s.data_dir)
        assert done.returncode == 0, done.stdout + done.stderr
        yield s
    finally:
        code = s.stop()
        assert code == 0, s.output()[-3000:]


def search(stack: Stack, q: str, **params) -> tuple[int, dict]:
    query = urllib.parse.urlencode({"q": q, **params})
    return stack.get(f"/api/search?{query}")


def test_index_reports_counts_and_replicas_load_it(stack: Stack):
    deadline = time.monotonic() + 30
    while True:  # each replica loads the new snapshot when it hears of it: converge, not instant
        health = stack.wait_replicas(2)
        versions = {r["index_version"] for r in health["replicas"]}
        if (len(versions) == 1 and None not in versions) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert health["status"] == "ok"
    assert len(versions) == 1 and None not in versions
    assert all(r["repos"].get("sample", 0) > 0 for r in health["replicas"])


def test_search_over_http_returns_chunks_with_lines(stack: Stack):
    status, body = search(stack, "where is the password hashed", k=5)
    assert status == 200, body
    assert set(body) == {"query_id", "query", "reranker", "results"}
    assert body["reranker"].startswith("none")
    assert 1 <= len(body["results"]) <= 5
    for hit in body["results"]:
        assert hit["repo"] == "sample"
        assert hit["doc_id"] == f"{hit['path']}:{hit['start_line']}-{hit['end_line']}"
        source = (FIXTURE_REPO / hit["path"]).read_text().splitlines()
        assert hit["snippet"].splitlines() == source[hit["start_line"] - 1 : hit["end_line"]]


def test_cli_search_json_is_the_http_object(stack: Stack):
    done = codesift("search", "password hashing", "--k", "3", "--json", data_dir=stack.data_dir)
    assert done.returncode == 0, done.stderr
    cli = json.loads(done.stdout)
    status, http = search(stack, "password hashing", k=3)
    assert status == 200
    assert [h["doc_id"] for h in cli["results"]] == [h["doc_id"] for h in http["results"]]
    assert set(cli) == set(http)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": ""}, "q"),
        ({"q": "x", "k": "0"}, "k"),
        ({"q": "x", "k": "101"}, "k"),
        ({"q": "x", "repo": "nope"}, "repo"),
    ],
)
def test_bad_search_input_is_400_naming_the_field(stack: Stack, params, field):
    status, body = stack.get("/api/search?" + urllib.parse.urlencode(params))
    assert status == 400
    assert field in json.dumps(body)


def test_a_killed_replica_is_restarted_and_search_keeps_working(stack: Stack):
    before = stack.wait_replicas(2)
    victim = before["replicas"][0]
    os.kill(victim["pid"], signal.SIGKILL)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda i: search(stack, f"session token {i}")[0], range(40)))
    assert results.count(200) == len(results)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        replicas = stack.health()["replicas"]
        ids = {r["replica_id"]: r for r in replicas}
        if victim["replica_id"] in ids and ids[victim["replica_id"]]["pid"] != victim["pid"]:
            assert ids[victim["replica_id"]]["index_version"] == victim["index_version"]
            break
        time.sleep(0.3)
    else:
        pytest.fail(f"replica {victim['replica_id']} was not restarted:\n{stack.output()[-3000:]}")
    assert "restarting" in stack.output()


def test_reindexing_unchanged_repository_embeds_nothing(stack: Stack):
    done = codesift("index", str(FIXTURE_REPO), "--name", "sample", data_dir=stack.data_dir)
    assert done.returncode == 0, done.stderr
    assert "(0 embedded," in done.stdout


def test_index_skips_links_out_of_the_repository_and_the_cli_reports_them(stack: Stack, tmp_path: Path):
    """Through the bus: the indexer never opens a link leading out, and the job's result counts it."""
    repo, outside = tmp_path / "linked", tmp_path / "outside"
    (repo / "src").mkdir(parents=True)
    outside.mkdir()
    (repo / "src" / "app.py").write_text("def handle_request(request):\n    return route(request)\n")
    (outside / "secret.py").write_text("SECRET_TOKEN_VALUE = 'never indexed'\n")
    (repo / "src" / "secret.py").symlink_to(outside / "secret.py")
    (repo / "etc").symlink_to("/etc", target_is_directory=True)
    done = codesift("index", str(repo), "--name", "linked", data_dir=stack.data_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        "indexed 'linked': 1 files" in done.stdout and "skipped: link_outside 2" in done.stdout
    )  # the file and the directory
    status, body = search(stack, "SECRET_TOKEN_VALUE", repo="linked")
    assert status == 200 and [hit["path"] for hit in body["results"]] == ["src/app.py"]

    bad = codesift("index", str(repo), "--name", "..", data_dir=stack.data_dir)
    assert bad.returncode != 0 and "--name '..'" in bad.stdout + bad.stderr


def test_cli_without_stack_fails_with_one_line(tmp_path: Path):
    done = codesift("search", "anything", data_dir=tmp_path / "nothing-here", timeout=60)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "codesift up" in lines[0]


def test_eval_scores_golden_questions_and_writes_latest_json(stack: Stack):
    golden = ROOT / "tests" / "fixtures" / "sample_golden.json"
    done = codesift("eval", "--golden", str(golden), "--json", data_dir=stack.data_dir)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)  # --json prints the object and nothing else
    written = json.loads((stack.data_dir / "evals" / "latest.json").read_text())
    assert printed == written
    assert set(written) >= {"timestamp", "model_path", "metrics", "total_questions"}
    assert set(written["metrics"]) == {"mrr", "hit_at_1", "hit_at_3", "hit_at_5", "hit_at_10", "ndcg_at_10"}
    assert written["total_questions"] == 8
    assert len(written["per_question"]) == 8
    # the fixture's questions are easy: retrieval must find most of them at the top
    assert written["metrics"]["hit_at_5"] >= 0.75
    assert written["metrics"]["mrr"] > 0.5


def test_eval_rejects_a_bad_golden_file_naming_the_question(stack: Stack, tmp_path: Path):
    bad = tmp_path / "golden.json"
    bad.write_text(
        '[{"q": "fine", "repo": "sample", "expect_paths": ["a"]}, {"q": "no paths", "repo": "sample"}]'
    )
    done = codesift("eval", "--golden", str(bad), data_dir=stack.data_dir)
    assert done.returncode != 0
    assert "expect_paths" in done.stderr and "[1]" in done.stderr


def test_two_stacks_run_side_by_side_and_stop_cleanly(tmp_path: Path):
    stacks = [Stack(tmp_path / f"data{i}", replicas=1) for i in range(2)]
    children = []
    try:
        for s in stacks:
            s.wait_ready()
        for s in stacks:
            health = s.wait_replicas(1)
            assert health["bus"]["connected"]
            children += psutil.Process(s.process.pid).children(recursive=True)
        urls = {json.loads((s.data_dir / "stack.json").read_text())["nats_url"] for s in stacks}
        assert len(urls) == 2  # each stack has its own nats-server
        assert len(children) >= 8  # per stack: nats, indexer, replica, gateway
    finally:
        codes = [s.stop() for s in stacks]
    assert codes == [0, 0]
    time.sleep(0.5)
    assert not [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert not any((s.data_dir / "stack.json").exists() for s in stacks)


async def test_every_search_records_its_impression_before_answering(stack: Stack):

    from shared.schemas import impression_decoder
    from shared.subjects import impression_subject

    status, body = search(stack, "invoice total with tax", k=4, repo="sample")
    assert status == 200
    nc = await stack.nats_connect()
    try:
        msg = await nc.jetstream().get_last_msg("IMPRESSIONS", impression_subject(body["query_id"]))
    finally:
        await nc.close()
    impression = impression_decoder.decode(msg.data)
    assert impression.query == "invoice total with tax"
    assert impression.repo == "sample" and impression.k == 4
    assert [(r.position, r.doc_id) for r in impression.results] == [
        (i, hit["doc_id"]) for i, hit in enumerate(body["results"], 1)
    ]
    assert impression.index_version is not None


async def test_candidates_and_documents_for_the_trainer(stack: Stack):
    import msgspec

    from shared import subjects
    from shared.schemas import CandidatesReply, DocumentsReply

    nc = await stack.nats_connect()
    try:
        msg = await nc.request(
            subjects.SEARCH_CANDIDATES, b'{"query": "password hashing", "k": 20}', timeout=10
        )
        candidates = msgspec.json.decode(msg.data, type=CandidatesReply).response.candidates
        assert len(candidates) == 20
        assert [c.fusion_rank for c in candidates] == list(range(1, 21))
        first = candidates[0]
        source = (FIXTURE_REPO / first.path).read_text().splitlines()
        assert first.text.splitlines() == source[first.start_line - 1 : first.end_line]

        wanted = [c.doc_id for c in candidates[:3]]
        body = json.dumps({"repo": "sample", "doc_ids": wanted}).encode()
        msg = await nc.request(subjects.SEARCH_DOCUMENTS, body, timeout=10)
        docs = msgspec.json.decode(msg.data, type=DocumentsReply).response
        assert sorted(d.doc_id for d in docs.chunks) == sorted(wanted)

        pages, offset = [], 0
        while offset < docs.total:
            body = json.dumps({"repo": "sample", "offset": offset, "limit": 25}).encode()
            msg = await nc.request(subjects.SEARCH_DOCUMENTS, body, timeout=10)
            page = msgspec.json.decode(msg.data, type=DocumentsReply).response.chunks
            pages += page
            offset += 25
        assert len({d.doc_id for d in pages}) == docs.total > 25

        msg = await nc.request(subjects.SEARCH_DOCUMENTS, b'{"repo": "nope"}', timeout=10)
        assert msgspec.json.decode(msg.data, type=DocumentsReply).error.field == "repo"
    finally:
        await nc.close()


def test_services_die_with_a_killed_supervisor(tmp_path: Path):
    s = Stack(tmp_path / "data", replicas=1)
    try:
        s.wait_ready()
        children = psutil.Process(s.process.pid).children(recursive=True)
        assert children
        s.process.kill()  # SIGKILL: the supervisor cannot stop them itself
        s.process.wait()
        _, alive = psutil.wait_procs(children, timeout=20)
        assert not alive, [p.cmdline() for p in alive]
    finally:
        s.stop()
