"""POST /api/reranker/{evaluate,promote,rollback} and GET /api/reranker/jobs/{id}: stored, followed.

A model named in a body must resolve inside DATA_DIR/models; anything else is 400 naming the field
and nothing is stored.
"""

from __future__ import annotations

import json
from pathlib import Path

import nats
import pytest

from services.gateway.jobs_client import JobsClient
from services.gateway.settings import GatewaySettings
from shared import subjects
from shared.jobs import JobReporter
from shared.schemas import EvaluateCommand, PromoteCommand, RollbackCommand
from shared.streams import Buckets, bootstrap
from tests.conftest import NatsServer
from tests.unit.gateway.conftest import TIMEOUT
from tests.unit.gateway.reranker_seed import NEW
from tests.unit.gateway.test_reranker import stored_commands


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    (tmp_path / "data" / "models" / NEW).mkdir(parents=True)
    return tmp_path / "data"


@pytest.fixture
def settings(nats_server: NatsServer, data_dir: Path) -> GatewaySettings:
    return GatewaySettings(nats_url=nats_server.url, request_timeout=TIMEOUT, data_dir=data_dir)


async def hold_trainer_lock(url: str) -> None:
    nc = await nats.connect(url)
    try:
        kv = await (await bootstrap(nc)).key_value(Buckets.JOBS)
        await kv.put("trainer.current", b"train-20260101-000000-abcd1234")
    finally:
        await nc.close()


async def test_evaluate_a_version_is_stored_and_followed_as_queued(client, nats_server):
    r = await client.post("/api/reranker/evaluate", content=json.dumps({"model_path": NEW, "split": "all"}))

    assert r.status_code == 202, r.text
    accepted = r.json()
    assert accepted["kind"] == "evaluate" and accepted["state"] == "queued"
    [(subject, command)] = await stored_commands(nats_server.url)
    assert subject == subjects.CMD_EVALUATE
    assert command == EvaluateCommand(job_id=accepted["job_id"], model=NEW, split="all")
    job = (await client.get(f"/api/reranker/jobs/{accepted['job_id']}")).json()
    assert (job["job_id"], job["kind"], job["state"]) == (accepted["job_id"], "evaluate", "queued")


async def test_evaluate_takes_model_as_well_and_a_path_inside_the_models_dir(client, nats_server, data_dir):
    r = await client.post(
        "/api/reranker/evaluate", content=json.dumps({"model": str(data_dir / "models" / NEW)})
    )

    assert r.status_code == 202, r.text
    [(_, command)] = await stored_commands(nats_server.url)
    assert command.model == NEW and command.split == "eval"


async def test_evaluate_without_a_body_evaluates_the_newest(client, nats_server):
    r = await client.post("/api/reranker/evaluate")

    assert r.status_code == 202, r.text
    [(_, command)] = await stored_commands(nats_server.url)
    assert command.model is None and command.golden is None


@pytest.mark.parametrize(
    "value", ["../x", "/etc/passwd", f"{NEW}/../../outside", "", "link-out", f"{NEW}\x00", "/tmp"]
)
@pytest.mark.parametrize("field", ["model_path", "model"])
async def test_a_model_outside_the_models_dir_is_400_naming_the_field(
    client, nats_server, data_dir, tmp_path, field, value
):
    outside = tmp_path / "outside"
    outside.mkdir()
    (data_dir / "models" / "link-out").symlink_to(outside, target_is_directory=True)

    r = await client.post("/api/reranker/evaluate", content=json.dumps({field: value}))

    assert r.status_code == 400, r.text
    assert r.json()["field"] == field
    assert r.json()["detail"].startswith(f"{field}: ")
    assert await stored_commands(nats_server.url) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [({"split": "train"}, "split"), ({"model": 3}, "model"), ({"model_path": NEW, "model": NEW}, "model"),
     ({"golden": "../../etc/golden.json"}, "golden"), ({"golden": "g\x00.json"}, "golden")],
)  # fmt: skip
async def test_bad_evaluate_options_are_400_naming_the_field(client, nats_server, body, field):
    r = await client.post("/api/reranker/evaluate", content=json.dumps(body))

    assert r.status_code == 400 and r.json()["field"] == field
    assert await stored_commands(nats_server.url) == []


async def test_evaluate_promote_and_rollback_are_not_blocked_by_a_trainer_job(client, nats_server):
    await hold_trainer_lock(nats_server.url)

    answers = [
        await client.post("/api/reranker/evaluate"),
        await client.post("/api/reranker/promote", content=json.dumps({"model": NEW})),
        await client.post("/api/reranker/rollback"),
    ]

    assert [a.status_code for a in answers] == [202, 202, 202]
    assert (await client.post("/api/reranker/train")).status_code == 409
    assert [s for s, _ in await stored_commands(nats_server.url)] == [
        subjects.CMD_EVALUATE, subjects.CMD_PROMOTE, subjects.CMD_ROLLBACK,
    ]  # fmt: skip


async def test_promote_with_options_is_stored(client, nats_server):
    body = {"model": NEW, "force": True, "min_triplets": 10}
    r = await client.post("/api/reranker/promote", content=json.dumps(body))

    assert r.status_code == 202, r.text
    [(subject, command)] = await stored_commands(nats_server.url)
    assert subject == subjects.CMD_PROMOTE
    assert command == PromoteCommand(job_id=r.json()["job_id"], model=NEW, force=True, min_triplets=10)


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "model"), ({"model": "../x"}, "model"), ({"model": NEW, "force": "yes"}, "force"),
     ({"model": NEW, "min_triplets": -1}, "min_triplets"), ({"model_path": NEW}, "model_path")],
)  # fmt: skip
async def test_bad_promote_options_are_400_naming_the_field(client, nats_server, body, field):
    r = await client.post("/api/reranker/promote", content=json.dumps(body))

    assert r.status_code == 400, r.text
    assert r.json()["field"] == field
    assert await stored_commands(nats_server.url) == []


async def test_rollback_is_stored_and_its_progress_is_followed(client, nats_server):
    r = await client.post("/api/reranker/rollback")
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    [(subject, command)] = await stored_commands(nats_server.url)
    assert (subject, command) == (subjects.CMD_ROLLBACK, RollbackCommand(job_id=job_id))

    nc = await nats.connect(nats_server.url)
    try:
        reporter = JobReporter(nc, nc.jetstream(), job_id, "rollback")
        await reporter.report("running", 0.5, "loading the previous version")
        running = (await client.get(f"/api/reranker/jobs/{job_id}")).json()
        await reporter.report("succeeded", 1.0, "production is back to none", {"version": None})
        done = (await client.get(f"/api/reranker/jobs/{job_id}")).json()
    finally:
        await nc.close()
    assert (running["state"], running["progress"], running["message"]) == (
        "running", 0.5, "loading the previous version"
    )  # fmt: skip
    assert (done["state"], done["message"], done["result"]) == (
        "succeeded", "production is back to none", {"version": None}
    )  # fmt: skip


async def test_an_unknown_job_is_404(client):
    r = await client.get("/api/reranker/jobs/evaluate-20260101-000000-00000000")

    assert r.status_code == 404
    assert "evaluate-20260101-000000-00000000" in r.json()["detail"]


async def test_the_queued_state_never_replaces_what_the_service_reported(nats_server):
    command = RollbackCommand(job_id="rollback-20260101-000000-abcdef12")
    nc = await nats.connect(nats_server.url)
    try:
        js = await bootstrap(nc)
        await JobReporter(nc, js, command.job_id, "rollback").report("succeeded", 1.0, "done")
        await JobsClient(nc, timeout=TIMEOUT).submit(command)
        entry = await (await js.key_value(Buckets.JOBS)).get(command.job_id)
    finally:
        await nc.close()
    assert b'"state":"succeeded"' in (entry.value or b"")
    assert await stored_commands(nats_server.url) == [(subjects.CMD_ROLLBACK, command)]


@pytest.mark.parametrize("path", ["/api/reranker/mine", "/api/reranker/evaluate", "/api/reranker/promote"])
async def test_a_body_nested_too_deep_is_400_naming_body(client, nats_server, path):
    r = await client.post(path, content=b"[" * 10_000)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "body" and "nested too deep" in r.json()["detail"]
    assert await stored_commands(nats_server.url) == []
