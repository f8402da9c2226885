"""Online experiments through a real nats-server: impressions with teams and feedback flow through the
telemetry service into the experiment's tally, each search counted once."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import nats
import pytest
from faststream import TestApp

from services.promoter.online import online_failure
from services.telemetry.app import create_app
from services.telemetry.settings import TelemetrySettings
from shared import subjects
from shared.experiments import (
    ExperimentError,
    Tally,
    credit_click,
    experiments,
    latest_tally,
    read_running,
    read_tally,
    start_experiment,
    stop_experiment,
)
from shared.schemas import Impression, ShownResult, encoder
from shared.streams import bootstrap
from tests.conftest import NatsServer
from tests.integration.test_nats_permissions import login, server  # noqa: F401  (fixtures)
from tests.integration.test_telemetry import event, publish

DOCS = ("a.py:1-9", "b.py:1-9", "c.py:1-9", "d.py:1-9")


def interleaved(query_id: str, experiment_id: str | None) -> Impression:
    sides = ("candidate", "production", "candidate", "production")
    return Impression(
        query_id=query_id,
        query="where is the token validated",
        repo="demo",
        k=4,
        results=[
            ShownResult(i, doc, "demo", doc.split(":")[0], 1 / i, side=side if experiment_id else None)
            for i, (doc, side) in enumerate(zip(DOCS, sides, strict=True), 1)
        ],
        reranker="v0 interleaved with v1",
        model_version="v0",
        index_version="idx-1",
        replica_id="search-1",
        timestamp=time.time(),
        experiment=experiment_id,
    )


@pytest.fixture
async def js(nats_server: NatsServer):
    nc = await nats.connect(nats_server.url)
    yield await bootstrap(nc)
    await nc.close()


@pytest.fixture
def config(nats_server: NatsServer, tmp_path: Path) -> TelemetrySettings:
    return TelemetrySettings(
        nats_url=nats_server.url,
        data_dir=tmp_path / "data",
        telemetry_batch_wait=0.02,
        telemetry_retry_delay=0.2,
    )


async def tally_reaches(js, experiment, decided: int, timeout: float = 15) -> Tally:
    deadline = time.monotonic() + timeout
    while True:
        found = await read_tally(js, experiment)
        if found.wins + found.losses + found.ties >= decided or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


async def test_clicks_in_interleaved_searches_are_credited_to_teams_once_per_search(js, config):
    experiment = await start_experiment(js, "v1", "ab" * 32)
    assert (await read_running(js)) == experiment
    with pytest.raises(ExperimentError, match="running"):
        await start_experiment(js, "v2", "cd" * 32)
    win, loss, tie, down, other = (uuid.uuid4().hex for _ in range(5))
    for query_id in (win, loss, tie, down):
        await js.publish(
            subjects.impression_subject(query_id),
            encoder.encode(interleaved(query_id, experiment.experiment_id)),
        )
    await js.publish(subjects.impression_subject(other), encoder.encode(interleaved(other, None)))

    async with TestApp(create_app(config)):
        clicks = [
            ("w1", win, DOCS[0], 5),
            ("w2", win, DOCS[0], 5),  # the same doc clicked again: one credit
            ("w3", win, DOCS[2], 4),  # a thumbs up on another candidate result
            ("l1", loss, DOCS[1], 5),
            ("t1", tie, DOCS[0], 5),
            ("t2", tie, DOCS[1], 5),
            ("d1", down, DOCS[0], 1),  # a thumbs down credits nobody: the search is not counted
            ("o1", other, DOCS[0], 5),  # a search outside the experiment
            ("x1", win, "nowhere.py:1-2", 5),  # a doc the search did not show
        ]
        for event_id, query_id, doc, rating in clicks:
            await publish(js, event(event_id, query_id=query_id, doc_id=doc, rating=rating))
        await publish(js, event("w1", query_id=win, doc_id=DOCS[0]), msg_id="w1-again")  # a retried event
        found = await tally_reaches(js, experiment, 3)
        await asyncio.sleep(0.5)  # nothing else arrives
        again = await read_tally(js, experiment)

    assert (found.wins, found.losses, found.ties) == (again.wins, again.losses, again.ties) == (1, 1, 1)
    assert found.running and found.p_value == 1.0 and found.winner is None
    stopped = await stop_experiment(js)
    assert stopped.stopped_at is not None and await read_running(js) is None
    assert [e.experiment_id for e in await experiments(js)] == [experiment.experiment_id]
    kept = await latest_tally(js, "v1")
    assert kept is not None and not kept.running and (kept.wins, kept.losses, kept.ties) == (1, 1, 1)
    assert await latest_tally(js, "v2") is None
    assert "more wins than losses" in (online_failure("v1", kept) or "")


async def test_a_winning_candidate_passes_the_online_gate_once_significant(js, config):
    experiment = await start_experiment(js, "v1", "ab" * 32)
    query_ids = [uuid.uuid4().hex for _ in range(12)]
    for query_id in query_ids:
        await js.publish(
            subjects.impression_subject(query_id),
            encoder.encode(interleaved(query_id, experiment.experiment_id)),
        )
    async with TestApp(create_app(config)):
        for i, query_id in enumerate(query_ids):  # 11 searches won by the candidate, 1 lost
            doc = DOCS[1] if i == 0 else DOCS[0]
            await publish(js, event(f"e{i}", query_id=query_id, doc_id=doc))
        found = await tally_reaches(js, experiment, 12)
    assert (found.wins, found.losses) == (11, 1)
    assert found.p_value == pytest.approx(2 * 13 / 4096) and found.winner == "candidate"
    assert online_failure("v1", await latest_tally(js, "v1")) is None


async def test_the_promoter_requires_an_online_win_when_told_to(js, nats_server: NatsServer, tmp_path: Path):
    from services.promoter.app import create_app as create_promoter
    from services.promoter.settings import PromoterSettings
    from tests.integration.test_promoter import V1, events, pointer, promote_auto, train
    from tests.unit.promoter.evaluations import evaluation

    config = PromoterSettings(
        nats_url=nats_server.url, data_dir=tmp_path / "data", promote_require_online=True
    )
    async with TestApp(create_promoter(config)):
        sha256 = await train(js, config.models, V1)
        await promote_auto(js, evaluation(V1))  # better offline, never tried online
        assert await pointer(js) is None
        [refused] = await events(js, subjects.MODEL_DECISION)
        assert [gate for gate, ok in refused.gates.items() if not ok] == ["online"]
        assert "never in an online experiment" in refused.reasons[0]

        experiment = await start_experiment(js, V1, sha256)
        for i in range(12):  # 11 searches whose clicks went to the candidate, 1 to production
            await credit_click(
                js,
                experiment.experiment_id,
                uuid.uuid4().hex,
                DOCS[0],
                "production" if i == 0 else "candidate",
            )
        await promote_auto(js, evaluation(V1))

    production = await pointer(js)
    assert production is not None and production.version == V1
    promoted = (await events(js, subjects.MODEL_DECISION))[-1]
    assert promoted.promoted and promoted.gates["online"]


@pytest.mark.slow  # three refused writes, each waiting out its timeout
async def test_only_the_gateway_and_the_cli_start_experiments_and_only_telemetry_credits_clicks(login):  # noqa: F811
    gateway, cli, search, telemetry = [await login(k) for k in ("gateway", "cli", "search", "telemetry")]
    started = await start_experiment(gateway.nc.jetstream(), "v1", "ab" * 32)
    await stop_experiment(cli.nc.jetstream())
    assert gateway.violations() == cli.violations() == []
    for intruder in (search, telemetry):  # a replica (or telemetry) cannot start one
        with pytest.raises(nats.errors.TimeoutError):
            await start_experiment(intruder.nc.jetstream(timeout=1), "v2", "cd" * 32)
        assert any("$kv.experiments" in v.lower() for v in intruder.violations())
    js = telemetry.nc.jetstream()
    assert await credit_click(js, started.experiment_id, uuid.uuid4().hex, DOCS[0], "candidate")
    with pytest.raises(nats.errors.TimeoutError):  # the gateway cannot forge a click's credit
        await credit_click(
            gateway.nc.jetstream(), started.experiment_id, uuid.uuid4().hex, DOCS[0], "candidate"
        )
    assert (await read_tally(js, started)).wins == 1


async def test_the_production_model_cannot_be_its_own_candidate(js):
    from shared.schemas import ModelPointer
    from shared.streams import Buckets

    pointer = ModelPointer(version="v1", sha256="ab" * 32, promoted_at=time.time())
    await (await js.key_value(Buckets.REGISTRY)).put("model", encoder.encode(pointer))
    with pytest.raises(ExperimentError, match="in production already"):
        await start_experiment(js, "v1", "ab" * 32)
    assert await read_running(js) is None and await experiments(js) == []
