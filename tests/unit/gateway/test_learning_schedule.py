"""GET /api/reranker/schedule: the trainer's schedule snapshot, or 404 before any trainer wrote one."""

from __future__ import annotations

import nats

from services.trainer.loop import LearningLoop
from services.trainer.settings import TrainerSettings
from shared import subjects
from shared.streams import bootstrap


async def test_no_trainer_yet_is_a_404_that_says_so(client):
    r = await client.get("/api/reranker/schedule")
    assert r.status_code == 404
    assert r.json()["detail"] == "no trainer has reported its learning schedule yet: is the trainer running?"


async def test_the_schedule_and_next_run_as_the_trainer_last_checked_them(client, nats_server, tmp_path):
    nc = await nats.connect(nats_server.url)
    try:
        js = await bootstrap(nc)
        await js.add_consumer("FEEDBACK", durable_name="telemetry")  # the telemetry's, nothing stored yet
        for _ in range(2):
            await js.publish(subjects.TELEMETRY_FEEDBACK, b"{}")
        settings = TrainerSettings(data_dir=tmp_path, learn_after_events=5, learn_every="6h")
        decision = await LearningLoop(settings, js).tick(now=1_790_000_000.0)
    finally:
        await nc.close()
    assert not decision.run

    r = await client.get("/api/reranker/schedule")
    assert r.status_code == 200, r.text
    body = r.json()
    expected = {"enabled": True, "after_events": 5, "every": "6h", "every_s": 21600.0, "last_run_at": None}
    assert {key: body[key] for key in expected} == expected
    # stored in the stream but not yet acknowledged by the telemetry (not in the log): not counted
    assert (body["events_total"], body["events_since_last"], body["events_needed"]) == (0, 0, 5)
    assert body["next_run_at"] == 1_790_000_000.0 + 21600
    assert body["next_run"] == "after 5 more events or at 2026-09-21T20:13:20Z"
    assert body["running"] is None and body["checked_at"] == 1_790_000_000.0
