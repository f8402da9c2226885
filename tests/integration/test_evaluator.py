"""The evaluator service against a real nats-server, a stand-in search replica and real models
(a trained cross-encoder; learned combiners made by hand), and its verdict through the promoter's gate."""

from __future__ import annotations

import asyncio
import json
import random
import time
from pathlib import Path

import msgspec
import nats
import pytest
from faststream import TestApp
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError

from services.evaluator.app import create_app
from services.evaluator.pipeline import trained_job_id
from services.evaluator.settings import EvaluatorSettings
from services.promoter.app import create_app as create_promoter
from services.promoter.settings import PromoterSettings
from shared import subjects
from shared.artifacts import put_model
from shared.combiner import Combiner
from shared.golden import split_golden
from shared.jobs import job_state
from shared.ranking import served_order
from shared.schemas import (
    JOB_STATES_FINAL,
    Candidate,
    CandidatesReply,
    CandidatesRequest,
    CandidatesResponse,
    EvaluateCommand,
    GoldenQuestion,
    JobProgress,
    ModelEvaluated,
    ModelPointer,
    ModelTrained,
    Problem,
    PromotionDecision,
    encoder,
    event_decoder,
)
from shared.streams import Buckets, bootstrap
from tests.combiner_fixtures import TRIPLETS, combiner_artifact
from tests.conftest import NatsServer
from tests.model_fixtures import TINY_VERSION, install_model, tiny_model_fixture  # noqa: F401 (fixture)
from tests.unit.trainer.tiny_corpus import NOUNS, QUESTIONS, VERBS

PRODUCTION = "cross-encoder-codesift-20250101-000000"
REPO = "demo"
_evaluated = msgspec.json.Decoder(ModelEvaluated)

# ------------------------------------------------------------------ a stand-in search replica

CHUNKS = [
    (f"app/{noun}/{verb}.py", code.format(n=noun, N=noun.title()))
    for verb, code in VERBS.items()
    for noun in NOUNS
]
GOLDEN = [
    GoldenQuestion(q=QUESTIONS[verb].format(n=noun), repo=REPO, expect_paths=[f"app/{noun}/{verb}.py"])
    for verb in VERBS
    for noun in NOUNS[::2]
]


def ranked(query: str) -> list[Candidate]:
    """All chunks, the expected one at rank 1..6 (by question), the rest in a seeded shuffle."""
    question = next(i for i, q in enumerate(GOLDEN) if q.q == query)
    expected = GOLDEN[question].expect_paths[0]
    others = [c for c in CHUNKS if c[0] != expected]
    random.Random(question).shuffle(others)
    order = others[:]
    order.insert(question % 6, next(c for c in CHUNKS if c[0] == expected))
    return [
        Candidate(
            doc_id=f"{path}:1-3", repo=REPO, path=path, start_line=1, end_line=3, language="python",
            chunk_kind="function", content_hash=path, text=text, fusion_rank=rank,
            fusion_score=1 / (60 + rank), bm25_rank=rank, bm25_score=1.0, vector_rank=rank, vector_score=0.5,
        )
        for rank, (path, text) in enumerate(order, start=1)
    ]  # fmt: skip


async def stand_in_search(nc: Client, asked: list[CandidatesRequest]) -> None:
    async def answer(msg) -> None:
        request = msgspec.json.decode(msg.data, type=CandidatesRequest)
        asked.append(request)
        if request.repo != REPO:
            reply = CandidatesReply(
                error=Problem("repo", f"unknown repository {request.repo!r} (indexed: demo)")
            )
        else:
            reply = CandidatesReply(
                response=CandidatesResponse(request.query, ranked(request.query)[: request.k])
            )
        await msg.respond(encoder.encode(reply))

    await nc.subscribe(subjects.SEARCH_CANDIDATES, queue=subjects.SEARCH_QUEUE, cb=answer)


# ------------------------------------------------------------------ fixtures


@pytest.fixture
async def bus(nats_server: NatsServer):
    nc = await nats.connect(nats_server.url)
    js = await bootstrap(nc)
    asked: list[CandidatesRequest] = []
    await stand_in_search(nc, asked)
    yield nc, js, asked
    await nc.close()


@pytest.fixture
def settings(nats_server: NatsServer, tmp_path: Path) -> EvaluatorSettings:
    golden = tmp_path / "golden.json"
    extra = GoldenQuestion(q="where is the flux capacitor", repo="elsewhere", expect_paths=["flux.py"])
    golden.write_bytes(msgspec.json.encode([*GOLDEN, extra]))
    return EvaluatorSettings(
        nats_url=nats_server.url,
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        golden_path=golden,
        eval_resamples=1000,
    )


async def wait_job(js: JetStreamContext, job_id: str, timeout: float = 120) -> JobProgress:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = await job_state(js, job_id)
        if state is not None and state.state in JOB_STATES_FINAL:
            return state
        await asyncio.sleep(0.1)
    raise TimeoutError(f"job {job_id} did not end within {timeout} s (last: {state})")


async def kv_value(js: JetStreamContext, bucket: str, key: str) -> bytes:
    kv = await js.key_value(bucket)
    return (await kv.get(key)).value


# ------------------------------------------------------------------ tests


@pytest.mark.slow
async def test_a_trained_model_is_evaluated_against_no_reranker_and_production(bus, settings, tiny_model):
    nc, js, asked = bus
    digest = await put_model(js, tiny_model)  # only in the object store: the evaluator must fetch it
    install_model(tiny_model, settings.models, PRODUCTION)  # production: a local copy of the same weights
    registry = await js.key_value(Buckets.REGISTRY)
    await registry.put("model", encoder.encode(ModelPointer(PRODUCTION, "0" * 64, time.time())))
    evaluated = await nc.subscribe(subjects.MODEL_EVALUATED)
    trained = ModelTrained(
        timestamp=time.time(),
        version=TINY_VERSION,
        sha256=digest,
        job_id="train-1",
        triplets={"bootstrap": 36},
    )

    async with TestApp(create_app(settings)):
        await js.publish(subjects.MODEL_TRAINED, encoder.encode(trained))
        event = _evaluated.decode((await evaluated.next_msg(timeout=120)).data)
        job = await wait_job(js, trained_job_id(TINY_VERSION))

    _, held_out = split_golden(GOLDEN)
    assert event.version == TINY_VERSION and event.job_id == trained_job_id(TINY_VERSION)
    assert event.split == "eval" and event.total_questions == len(held_out) == 4
    assert event.production_version == PRODUCTION and event.triplets == 36
    assert set(event.baselines) == set(event.intervals) == {"none", "production"}
    # the same weights as production: the same ranking, question by question
    assert event.baselines["production"] == event.metrics
    assert (event.intervals["production"].low, event.intervals["production"].high) == (0.0, 0.0)
    none = event.intervals["none"]
    assert none.mean == pytest.approx(event.metrics.mrr - event.baselines["none"].mrr)
    assert none.low <= none.mean <= none.high
    # every question was asked once, within its repository, with depth beyond the top N
    assert {(r.query, r.repo, r.k) for r in asked} == {(q.q, REPO, 50) for q in held_out}

    assert job.state == "succeeded" and job.kind == "evaluate" and job.result["version"] == TINY_VERSION
    stored = await kv_value(js, Buckets.EVALS, TINY_VERSION)
    assert _evaluated.decode(stored) == event
    assert _evaluated.decode(await kv_value(js, Buckets.EVALS, "latest")) == event

    latest = json.loads((settings.data_dir / "evals" / "latest.json").read_text())
    assert list(latest)[:4] == ["timestamp", "model_path", "metrics", "total_questions"]
    assert latest["model_path"] == str(settings.cache_dir / "models" / TINY_VERSION)  # fetched
    assert latest["metrics"] == msgspec.to_builtins(event.metrics)
    assert latest["baselines"] == msgspec.to_builtins(event.baselines)
    assert latest["intervals"] == msgspec.to_builtins(event.intervals)
    assert len(latest["per_question"]) == event.total_questions
    assert set(latest["per_question"][0]["ranks"]) == {"none", "production", "candidate"}


@pytest.mark.slow
async def test_an_evaluate_command_scores_every_question_and_skips_unindexed_repositories(
    bus, settings, tiny_model
):
    _, js, _ = bus
    await put_model(js, tiny_model)  # found in the object store, checked against the store's digest
    command = EvaluateCommand(job_id="eval-all", split="all")  # no model named: the newest trained
    async with TestApp(create_app(settings)):
        await js.publish(subjects.CMD_EVALUATE, encoder.encode(command))
        job = await wait_job(js, "eval-all")

    assert job.state == "succeeded", job.message
    latest = json.loads((settings.data_dir / "evals" / "latest.json").read_text())
    assert latest["split"] == "all" and latest["total_questions"] == len(GOLDEN)
    assert latest["model_path"] == str(settings.cache_dir / "models" / TINY_VERSION)
    assert latest["production_version"] is None and set(latest["baselines"]) == {"none"}
    assert "repository not indexed: elsewhere (1)" in latest["note"]


async def test_a_model_path_outside_the_models_directory_fails_the_job_naming_model_path(bus, settings):
    _, js, asked = bus
    async with TestApp(create_app(settings)):
        for job_id, model in (("eval-up", "../outside"), ("eval-abs", "/etc")):
            command = EvaluateCommand(job_id=job_id, model=model)
            await js.publish(subjects.CMD_EVALUATE, encoder.encode(command))
            job = await wait_job(js, job_id, timeout=20)
            assert job.state == "failed" and job.kind == "evaluate"
            assert job.message.startswith("model_path: ") and model in job.message
        missing = EvaluateCommand(job_id="eval-missing", model="cross-encoder-codesift-19990101-000000")
        await js.publish(subjects.CMD_EVALUATE, encoder.encode(missing))
        job = await wait_job(js, "eval-missing", timeout=20)
    assert job.state == "failed" and job.message.startswith(f"model_path: no model {missing.model!r}")
    assert asked == []  # refused before any retrieval
    assert not (settings.data_dir / "evals" / "latest.json").exists()


@pytest.mark.slow
async def test_a_downloaded_artifact_that_does_not_match_its_checksum_is_refused(bus, settings, tiny_model):
    _, js, asked = bus
    await put_model(js, tiny_model)
    announced = ModelTrained(
        timestamp=time.time(), version=TINY_VERSION, sha256="0" * 64, job_id="train-2", triplets={}
    )
    async with TestApp(create_app(settings)):
        await js.publish(subjects.MODEL_TRAINED, encoder.encode(announced))
        job = await wait_job(js, trained_job_id(TINY_VERSION))
    assert job.state == "failed" and "does not match its sha256" in job.message
    assert not (settings.cache_dir / "models" / TINY_VERSION).exists() and asked == []


# ------------------------------------------------------------------ models with a learned combiner

COMBINED = "cross-encoder-codesift-20260105-000000"
# a combiner that reads the question against the chunk (no cross-encoder), and one that prefers the
# worst fusion ranks: it ranks below fusion on every question
READS_THE_QUESTION = {"query_identifier_overlap": 2.0, "query_path_overlap": 1.0, "fusion_rank_log": -0.2}
INVERTS_FUSION = {"fusion_rank_log": 1.0}


def first_correct(question: GoldenQuestion, paths: list[str]) -> int | None:
    return next((i for i, p in enumerate(paths[:10], 1) if any(e in p for e in question.expect_paths)), None)


async def test_a_model_with_a_combiner_is_evaluated_as_replicas_serve_it(bus, settings):
    _, js, _ = bus
    # stand-in cross-encoder files: evaluating the model fails if anything opens them
    model = combiner_artifact(settings.models, COMBINED, READS_THE_QUESTION)
    async with TestApp(create_app(settings)):
        await js.publish(
            subjects.CMD_EVALUATE, encoder.encode(EvaluateCommand(job_id="eval-c", model=COMBINED))
        )
        job = await wait_job(js, "eval-c", timeout=60)

    assert job.state == "succeeded", job.message
    latest = json.loads((settings.data_dir / "evals" / "latest.json").read_text())
    assert latest["rankers"] == {"none": "fusion order", "candidate": "learned combiner"}
    combiner = Combiner(model)
    _, held_out = split_golden(GOLDEN)
    expected = []
    for question in held_out:
        candidates = ranked(question.q)[:50]
        order = served_order(question.q, candidates, settings.reranker_topn, combiner=combiner)
        served_paths = [candidates[position].path for position, _ in order]
        expected.append(
            {
                "none": first_correct(question, [c.path for c in candidates]),
                "candidate": first_correct(question, served_paths),
            }
        )
    assert [q["ranks"] for q in latest["per_question"]] == expected
    assert any(e["candidate"] != e["none"] for e in expected)  # the combiner moves the answers


async def test_a_combiner_that_ranks_worse_than_fusion_is_not_promoted(bus, settings, tmp_path):
    """Trained -> evaluated as served -> the promoter's gate: refused, production stays no reranker."""
    nc, js, _ = bus
    model = combiner_artifact(tmp_path / "trainer", COMBINED, INVERTS_FUSION)
    digest = await put_model(js, model)  # only in the object store, as a trainer elsewhere leaves it
    manifest = json.loads((model / "manifest.json").read_text())
    trained = ModelTrained(time.time(), COMBINED, digest, "train-c", TRIPLETS, manifest)
    decisions = await nc.subscribe(subjects.MODEL_DECISION)
    promoter = PromoterSettings(nats_url=settings.nats_url, data_dir=settings.data_dir)
    async with TestApp(create_app(settings)), TestApp(create_promoter(promoter)):
        await js.publish(subjects.MODEL_TRAINED, encoder.encode(trained))
        decision = event_decoder.decode((await decisions.next_msg(timeout=60)).data)

    job = await wait_job(js, trained_job_id(COMBINED))
    assert job.state == "succeeded", job.message
    evaluated = _evaluated.decode(await kv_value(js, Buckets.EVALS, COMBINED))
    assert evaluated.intervals["none"].high < 0 and evaluated.metrics.mrr < evaluated.baselines["none"].mrr
    assert isinstance(decision, PromotionDecision) and decision.version == COMBINED
    assert not decision.promoted and decision.gates["interval"] is False and decision.gates["artifact"]
    assert any(reason.startswith("interval: ") for reason in decision.reasons)
    registry = await js.key_value(Buckets.REGISTRY)
    with pytest.raises(KeyNotFoundError):
        await registry.get("model")
