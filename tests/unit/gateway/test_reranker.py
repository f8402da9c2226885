"""/api/reranker/*: commands are validated, stored durably, refused while a trainer job runs."""

from __future__ import annotations

import json

import nats
import pytest

from shared import subjects
from shared.schemas import JobProgress, command_decoder, encoder
from shared.streams import Buckets, bootstrap


async def stored_commands(url: str, users: dict[str, str] | None = None) -> list:
    """Every command in the stream COMMANDS (users: a `codesift up` stack's, read as the CLI)."""
    nc = await nats.connect(url, **({"user": "cli", "password": users["cli"]} if users else {}))
    try:
        js = await bootstrap(nc)
        info = await js.stream_info("COMMANDS")
        found = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            if info.state.messages == 0:
                break
            msg = await js.get_msg("COMMANDS", seq)
            found.append((msg.subject, command_decoder.decode(msg.data)))
        return found
    finally:
        await nc.close()


async def test_train_with_options_is_stored_and_answered_202(client, nats_server):
    r = await client.post("/api/reranker/train", content=json.dumps({"epochs": 2, "loss": "mnrl"}))
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["kind"] == "train" and body["state"] == "queued"
    [(subject, command)] = await stored_commands(nats_server.url)
    assert subject == subjects.CMD_TRAIN
    assert command.job_id == body["job_id"] and command.epochs == 2 and command.loss == "mnrl"


async def test_mine_without_body_takes_defaults(client, nats_server):
    r = await client.post("/api/reranker/mine")
    assert r.status_code == 202, r.text
    [(subject, command)] = await stored_commands(nats_server.url)
    assert subject == subjects.CMD_MINE and command.source == "all"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/reranker/train", {"loss": "hinge"}, "loss"),
        ("/api/reranker/train", {"epochs": -1}, "epochs"),
        ("/api/reranker/train", {"lr": 0}, "lr"),
        ("/api/reranker/train", {"epoch": 3}, "epoch"),
        ("/api/reranker/train", {"job_id": "mine"}, "job_id"),
        ("/api/reranker/train", [1, 2], "body"),
        ("/api/reranker/mine", {"source": "everything"}, "source"),
    ],
)
async def test_bad_options_are_400_naming_the_field_and_nothing_is_stored(
    client, nats_server, path, body, field
):
    r = await client.post(path, content=json.dumps(body))
    assert r.status_code == 400
    assert r.json()["field"] == field
    assert await stored_commands(nats_server.url) == []


async def test_a_second_job_while_one_runs_is_409_naming_it(client, nats_server):
    nc = await nats.connect(nats_server.url)
    try:
        js = await bootstrap(nc)
        kv = await js.key_value(Buckets.JOBS)
        await kv.put("trainer.current", b"train-20260101-000000-abcd1234")
        progress = JobProgress(
            timestamp=1.0, job_id="train-20260101-000000-abcd1234", kind="train", state="running"
        )
        await kv.put("train-20260101-000000-abcd1234", encoder.encode(progress))
    finally:
        await nc.close()
    r = await client.post("/api/reranker/train")
    assert r.status_code == 409
    assert "already running: train-20260101-000000-abcd1234" in r.json()["detail"]
    assert await stored_commands(nats_server.url) == []
    status = (await client.get("/api/reranker/status")).json()
    assert status["running"] == "train-20260101-000000-abcd1234"
    assert [j["job_id"] for j in status["jobs"]] == ["train-20260101-000000-abcd1234"]


async def test_logs_without_a_trainer_is_503(client):
    r = await client.get("/api/reranker/logs")
    assert r.status_code == 503
