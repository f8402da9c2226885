"""POST /api/reranker/experiment, POST /api/reranker/experiment/stop, GET /api/reranker/experiments
against a real nats-server: the candidate must be registered, one experiment at a time, admin only."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import nats
import pytest

from services.gateway.settings import GatewaySettings
from shared.experiments import credit_click, read_running
from shared.streams import bootstrap
from tests.conftest import NatsServer
from tests.unit.gateway.conftest import TIMEOUT
from tests.unit.gateway.reranker_seed import NEW, OLD, seed, trained
from tests.unit.gateway.test_auth import ADMIN, bearer, gateway


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    (tmp_path / "data" / "models" / NEW).mkdir(parents=True)
    return tmp_path / "data"


@pytest.fixture
def settings(nats_server: NatsServer, data_dir: Path) -> GatewaySettings:
    return GatewaySettings(nats_url=nats_server.url, request_timeout=TIMEOUT, data_dir=data_dir)


async def registered(url: str) -> None:
    await seed(url, models=[trained(NEW, "2026-01-02T12:00:00Z", {"logs": 30}, [[1, 1.0]])])


async def test_an_experiment_starts_on_a_registered_model_is_listed_with_its_tally_and_stops(
    client, nats_server
):
    await registered(nats_server.url)
    empty = await client.get("/api/reranker/experiments")
    assert empty.status_code == 200 and empty.json() == {"running": None, "experiments": []}

    started = await client.post("/api/reranker/experiment", content=json.dumps({"model": NEW}))
    assert started.status_code == 201, started.text
    experiment = started.json()
    assert experiment["version"] == NEW and experiment["sha256"] == "a" * 64
    again = await client.post("/api/reranker/experiment", content=json.dumps({"model": NEW}))
    assert again.status_code == 409 and "stop it first" in again.json()["detail"]

    nc = await nats.connect(nats_server.url)
    try:
        js = await bootstrap(nc)
        assert (await read_running(js)).experiment_id == experiment["experiment_id"]
        for side in ("candidate", "candidate", "production"):  # what telemetry writes per search
            await credit_click(js, experiment["experiment_id"], uuid.uuid4().hex, "a.py:1-2", side)
    finally:
        await nc.close()
    listed = (await client.get("/api/reranker/experiments")).json()
    assert listed["running"]["experiment_id"] == experiment["experiment_id"]
    [tally] = listed["experiments"]
    assert (tally["wins"], tally["losses"], tally["ties"], tally["running"]) == (2, 1, 0, True)
    assert tally["p_value"] == pytest.approx(1.0) and tally["winner"] is None

    stopped = await client.post("/api/reranker/experiment/stop")
    assert stopped.status_code == 200 and stopped.json()["stopped_at"] is not None
    listed = (await client.get("/api/reranker/experiments")).json()
    assert listed["running"] is None and listed["experiments"][0]["running"] is False
    assert listed["experiments"][0]["wins"] == 2  # the tally outlives the experiment
    nothing = await client.post("/api/reranker/experiment/stop")
    assert nothing.status_code == 409 and nothing.json()["detail"] == "no experiment is running"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "model"),
        ({"model": None}, "model"),
        ({"model": "../outside"}, "model"),
        ({"model": OLD}, "model"),  # no such model directory
        ({"model": NEW, "share": 0.5}, "share"),
        ([NEW], "body"),
    ],
)
async def test_a_bad_body_is_400_naming_the_field_and_starts_nothing(client, nats_server, body, field):
    r = await client.post("/api/reranker/experiment", content=json.dumps(body))
    assert r.status_code == 400, r.text
    assert r.json()["field"] == field
    assert (await client.get("/api/reranker/experiments")).json()["running"] is None


async def test_an_unregistered_model_is_400(client):
    r = await client.post("/api/reranker/experiment", content=json.dumps({"model": NEW}))  # a directory only
    assert r.status_code == 400 and r.json()["field"] == "model"
    assert "not a registered model" in r.json()["detail"]


async def test_starting_and_stopping_need_the_admin_token_reading_does_not(nats_server, data_dir):
    await registered(nats_server.url)
    async with gateway(nats_server, data_dir, admin_token=ADMIN) as client:
        body = json.dumps({"model": NEW})
        assert (await client.post("/api/reranker/experiment", content=body)).status_code == 401
        assert (await client.post("/api/reranker/experiment/stop")).status_code == 401
        assert (await client.get("/api/reranker/experiments")).status_code == 200
        wrong = await client.post("/api/reranker/experiment", content=body, headers=bearer("nope"))
        assert wrong.status_code == 403
        ok = await client.post("/api/reranker/experiment", content=body, headers=bearer(ADMIN))
        assert ok.status_code == 201
        assert (await client.post("/api/reranker/experiment/stop", headers=bearer(ADMIN))).status_code == 200
