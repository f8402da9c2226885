"""GET /metrics: the gateway's searches and feedback, counted by outcome, in a text Prometheus parses."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from shared.schemas import SearchReply, encoder
from tests.prometheus_samples import parse, total
from tests.unit.gateway.conftest import StandIns
from tests.unit.gateway.test_search import RESPONSE
from tests.unit.gateway.test_telemetry import URL, event


async def scrape(client: AsyncTestClient) -> dict[str, float]:
    answer = await client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = parse(answer.text)
    found = {
        outcome: total(samples, "codesift_gateway_searches_total", outcome=outcome)
        for outcome in ("ok", "invalid", "unavailable", "bad_reply")
    }
    found["timed"] = total(samples, "codesift_gateway_search_seconds_count")
    found["accepted"] = total(samples, "codesift_feedback_accepted_total")
    found["refused_invalid"] = total(samples, "codesift_feedback_refused_total", reason="invalid")
    found["refused_too_large"] = total(samples, "codesift_feedback_refused_total", reason="too_large")
    return found


async def test_searches_and_feedback_move_the_gateway_counters(client: AsyncTestClient, stand_ins: StandIns):
    before = await scrape(client)
    assert (await client.get("/api/search", params={"k": 3})).status_code == 400  # no q: the handler's check
    assert (await client.get("/api/search", params={"q": "x"})).status_code == 503  # no replica yet
    stand_ins.search_replica(encoder.encode(SearchReply(response=RESPONSE)))
    for _ in range(2):
        assert (await client.get("/api/search", params={"q": RESPONSE.query})).status_code == 200
    assert (await client.get("/api/search", params={"q": "x", "k": 500})).status_code == 400  # Litestar's
    assert (await client.post(URL, json=event())).status_code == 202
    assert (await client.post(URL, json=event(event_id="e-2"))).status_code == 202
    assert (await client.post(URL, json=event(rating=9))).status_code == 400
    assert (await client.post(URL, content=b"x" * 40_000)).status_code == 413
    assert (await client.get("/api/health")).status_code == 200  # other routes count nothing
    after = await scrape(client)
    moved = {name: after[name] - before[name] for name in before}
    assert moved == {
        "ok": 2, "invalid": 2, "unavailable": 1, "bad_reply": 0, "timed": 2,
        "accepted": 2, "refused_invalid": 1, "refused_too_large": 1,
    }  # fmt: skip


async def test_with_metrics_off_there_is_no_metrics_route(settings: GatewaySettings):
    off = GatewaySettings(nats_url=settings.nats_url, request_timeout=settings.request_timeout, metrics=False)
    async with AsyncTestClient(app=create_app(off)) as client:
        assert (await client.get("/metrics")).status_code == 404
