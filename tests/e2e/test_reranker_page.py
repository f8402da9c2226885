"""The reranker page in real headless Chromium against the real stack, with seeded models.

Two trained versions (production with a learned combiner), their evaluations, the production
pointer and a promotion decision are written where the trainer, evaluator and promoter keep them;
the page must show them (the combiner's feature importances too), draw them, and start jobs whose
commands reach JetStream and whose progress it follows.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Page, expect

from shared import subjects
from shared.nats_auth import read_users
from shared.schemas import ModelPointer, PromoteCommand, RollbackCommand
from tests.combiner_fixtures import combiner_section
from tests.e2e.conftest import TOKEN_KEY
from tests.integration.stack import Stack, codesift
from tests.unit.gateway.reranker_seed import NEW, OLD, decision, evaluated, seed, trained
from tests.unit.gateway.test_reranker import stored_commands

pytestmark = pytest.mark.slow

T = TypeVar("T")
JOB_STATE = re.compile(r"^(queued|running|succeeded|failed)$")
# production (OLD) holds a learned combiner: test files first, then what the question names
COMBINER_WEIGHTS = {"file_test": 5.0, "query_path_overlap": 3.0, "fusion_rank_log": -2.0}


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on a loop of its own (Playwright's sync API holds this thread's loop)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def nats_url(stack: Stack) -> str:
    return str(json.loads((stack.data_dir / "stack.json").read_text())["nats_url"])


@pytest.fixture(scope="module")
def seeded(stack: Stack) -> Stack:
    run(
        seed(
            nats_url(stack),
            users=read_users(stack.data_dir),
            models=[
                trained(
                    OLD,
                    "2026-01-01T12:00:00Z",
                    {"golden": 80, "bootstrap": 40},
                    [[1, 0.9], [5, 0.6], [10, 0.4]],
                    combiner=combiner_section(COMBINER_WEIGHTS, kind="lambdamart"),
                ),
                trained(NEW, "2026-01-02T12:00:00Z", {"logs": 30}, [[1, 1.0], [8, 0.5]]),
            ],
            evaluations=[evaluated(OLD, 0.6, 0.8, None), evaluated(NEW, 0.52, 0.78, OLD)],
            pointer=ModelPointer(version=OLD, sha256="a" * 64, promoted_at=1_767_268_800.0),
            decisions=[
                decision(NEW, {"triplets": True, "mrr_vs_production": False}, ["MRR below production"])
            ],
        )
    )
    return stack


def stored(stack: Stack, job_id: str) -> list[tuple[str, Any]]:
    return [
        (s, c)
        for s, c in run(stored_commands(nats_url(stack), read_users(stack.data_dir)))
        if c.job_id == job_id
    ]


def test_the_search_page_links_to_the_reranker_page(page: Page, seeded: Stack) -> None:
    page.goto(seeded.url + "/")
    page.get_by_test_id("reranker-link").click()
    expect(page).to_have_url(seeded.url + "/reranker")
    expect(page.get_by_test_id("search-link")).to_have_attribute("href", "/")


def test_production_models_chart_and_loss_curve_are_shown(page: Page, seeded: Stack) -> None:
    page.goto(seeded.url + "/reranker")

    expect(page.get_by_test_id("production-version")).to_have_text(OLD, timeout=10_000)
    expect(page.get_by_test_id("production-mrr")).to_have_text("0.600")
    expect(page.get_by_test_id("production-hit5")).to_have_text("0.800")
    expect(page.get_by_test_id("production-backend")).to_have_text("onnxruntime")
    expect(page.get_by_test_id("replica")).to_have_count(1)  # the stack runs one search replica

    rows = page.get_by_test_id("model")
    expect(rows).to_have_count(2)
    assert [r.get_attribute("data-version") for r in rows.all()] == [NEW, OLD]  # newest first
    new, old = rows.nth(0), rows.nth(1)
    expect(old.get_by_test_id("production-badge")).to_be_visible()
    expect(new.get_by_test_id("production-badge")).to_have_count(0)
    expect(new.get_by_test_id("model-mrr")).to_have_text("0.520")
    expect(new.get_by_test_id("model-hit5")).to_have_text("0.780")
    expect(new.get_by_test_id("model-triplets")).to_have_text("30")
    expect(new.get_by_test_id("model-vs-production")).to_have_text("−0.030 [−0.080, +0.020]")
    expect(new.get_by_test_id("model-gates")).to_have_text("failed: mrr_vs_production")
    expect(old.get_by_test_id("model-vs-none")).to_have_text("+0.100 [+0.050, +0.150]")
    expect(old.get_by_test_id("promote")).to_be_disabled()  # production already

    chart = page.get_by_test_id("metrics-chart")
    for series in ("mrr", "hit5", "none"):
        points = chart.locator(f"[data-testid=chart-point][data-series={series}]")
        expect(points).to_have_count(2)
        assert [p.get_attribute("data-version") for p in points.all()] == [OLD, NEW]  # oldest to newest
    mrr = chart.locator("[data-series=mrr]")
    assert float(mrr.nth(0).get_attribute("cy") or 0) < float(mrr.nth(1).get_attribute("cy") or 0)

    loss = page.get_by_test_id("loss-curve")
    expect(loss).to_have_attribute("data-points", "2")  # the newest run is shown first
    page.get_by_test_id("loss-model").select_option(OLD)
    expect(loss).to_have_attribute("data-points", "3")
    assert len((loss.get_attribute("points") or "").split()) == 3
    expect(page.get_by_test_id("loss-summary")).to_contain_text("held-out MRR 0.400 → 0.610")


def test_the_learned_combiner_of_production_and_its_feature_importances_are_shown(
    page: Page, seeded: Stack
) -> None:
    page.goto(seeded.url + "/reranker")

    expect(page.get_by_test_id("production-ranker")).to_have_text(
        "learned combiner (lambdamart)", timeout=10_000
    )
    expect(page.get_by_test_id("production-cross-encoder")).to_have_text("not run")
    expect(page.get_by_test_id("importances-block")).to_be_visible()
    bars = page.get_by_test_id("importance")
    expect(bars).to_have_count(3)
    assert [b.get_attribute("data-feature") for b in bars.all()] == list(COMBINER_WEIGHTS)  # largest first
    shares = [b.get_by_test_id("importance-share").text_content() for b in bars.all()]
    assert shares == ["50.0%", "30.0%", "20.0%"]
    widths = [
        b.locator(".importance-fill").evaluate("e => e.getBoundingClientRect().width") for b in bars.all()
    ]
    assert widths[0] > widths[1] > widths[2] > 0
    assert widths[1] / widths[0] == pytest.approx(0.6, abs=0.02)  # bars in proportion to the shares

    info = codesift("info", data_dir=seeded.data_dir)
    assert info.returncode == 0, info.stderr
    assert "ranker: learned combiner, lambdamart (the cross-encoder is not run)" in info.stdout
    assert [line.split()[0] for line in info.stdout.splitlines() if "%" in line] == list(COMBINER_WEIGHTS)


def test_rollback_starts_a_job_whose_progress_is_shown(admin_page: Page, seeded: Stack) -> None:
    page = admin_page
    page.goto(seeded.url + "/reranker")
    expect(page.get_by_test_id("production-version")).to_have_text(OLD, timeout=10_000)

    with page.expect_response(lambda r: r.url.endswith("/api/reranker/rollback")) as answer:
        page.get_by_test_id("rollback").click()

    assert answer.value.status == 202 and answer.value.json()["state"] == "queued"
    job = page.locator("[data-testid=job][data-kind=rollback]").first
    expect(job).to_be_visible()
    expect(job.get_by_test_id("job-state")).to_have_text(JOB_STATE)
    job_id = job.get_attribute("data-job-id") or ""
    assert job_id == answer.value.json()["job_id"]
    assert stored(seeded, job_id) == [(subjects.CMD_ROLLBACK, RollbackCommand(job_id=job_id))]
    # the promoter rolls back to no reranker (OLD had no predecessor); the page follows the job to
    # its end, shows the promoter's message and then what production is now
    expect(job).to_have_attribute("data-state", "succeeded", timeout=15_000)
    expect(job.get_by_test_id("job-state")).to_have_text("succeeded")
    expect(job.get_by_test_id("job-message")).not_to_be_empty()
    expect(page.get_by_test_id("production-version")).to_have_attribute("data-version", "", timeout=5_000)
    expect(page.get_by_test_id("production-ranker")).to_have_text("none (fusion order)")
    expect(page.get_by_test_id("importances-block")).to_be_hidden()
    expect(page.locator(f"[data-testid=model][data-version='{OLD}']")).to_have_attribute(
        "data-production", "false"
    )


def test_promote_asks_for_confirmation_and_sends_force(admin_page: Page, seeded: Stack) -> None:
    page = admin_page
    page.goto(seeded.url + "/reranker")
    new = page.locator(f"[data-testid=model][data-version='{NEW}']")
    expect(new).to_be_visible(timeout=10_000)

    new.get_by_test_id("promote").click()
    dialog = page.get_by_test_id("promote-dialog")
    expect(dialog).to_be_visible()
    expect(page.get_by_test_id("promote-warning")).to_be_hidden()
    page.get_by_test_id("promote-force").check()
    expect(page.get_by_test_id("promote-warning")).to_be_visible()
    page.get_by_test_id("promote-cancel").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("[data-testid=job][data-kind=promote]")).to_have_count(0)

    new.get_by_test_id("promote").click()
    page.get_by_test_id("promote-force").check()
    page.get_by_test_id("promote-confirm").click()

    job = page.locator("[data-testid=job][data-kind=promote]").first
    expect(job).to_be_visible(timeout=10_000)
    job_id = job.get_attribute("data-job-id") or ""
    assert stored(seeded, job_id) == [
        (subjects.CMD_PROMOTE, PromoteCommand(job_id=job_id, model=NEW, force=True))
    ]
    # whatever the promoter decides about a model it cannot fetch, the page shows how it ended
    expect(job).to_have_attribute("data-state", re.compile(r"^(succeeded|failed)$"), timeout=15_000)
    expect(job.get_by_test_id("job-message")).not_to_be_empty()


def test_a_command_asks_for_the_token_refuses_a_wrong_one_and_keeps_it_in_the_tab_only(
    page: Page, seeded: Stack
) -> None:
    token = seeded.admin_token()
    page.goto(seeded.url + "/reranker")
    expect(page.get_by_test_id("production-version")).not_to_have_text("Loading…", timeout=10_000)
    dialog, reason = page.get_by_test_id("token-dialog"), page.get_by_test_id("token-reason")

    page.get_by_test_id("rollback").click()  # no token yet: asked for, then cancelled
    expect(dialog).to_be_visible()
    expect(reason).to_contain_text("(401)")
    expect(reason).to_contain_text("the admin token")
    page.get_by_test_id("token-cancel").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("job-error")).to_contain_text(
        "Rollback was not submitted: Authorization: missing"
    )

    page.get_by_test_id("rollback").click()
    expect(dialog).to_be_visible()
    page.get_by_test_id("token-input").fill("not-the-token")
    with page.expect_response(lambda r: r.url.endswith("/api/reranker/rollback")) as refused:
        page.get_by_test_id("token-submit").click()
    assert refused.value.status == 403
    assert refused.value.request.headers["authorization"] == "Bearer not-the-token"
    expect(dialog).to_be_visible()  # asked again, saying why
    expect(reason).to_contain_text("not accepted (403)")
    assert page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") is None  # a refused token is forgotten

    page.get_by_test_id("token-input").fill(token)
    with page.expect_response(lambda r: r.url.endswith("/api/reranker/rollback")) as answer:
        page.get_by_test_id("token-submit").click()
    assert answer.value.status == 202 and answer.value.json()["state"] == "queued"
    expect(dialog).to_be_hidden()
    job_id = answer.value.json()["job_id"]
    expect(page.locator(f"[data-testid=job][data-job-id='{job_id}']")).to_be_visible()
    assert stored(seeded, job_id) == [(subjects.CMD_ROLLBACK, RollbackCommand(job_id=job_id))]

    assert page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") == token
    assert page.evaluate("localStorage.length") == 0
    assert page.evaluate("document.cookie") == "" and page.context.cookies() == []

    page.reload()  # the same tab: the token is sent without asking again
    expect(page.get_by_test_id("production-version")).not_to_have_text("Loading…", timeout=10_000)
    with page.expect_response(lambda r: r.url.endswith("/api/reranker/rollback")) as again:
        page.get_by_test_id("rollback").click()
    assert again.value.status == 202
    expect(dialog).to_be_hidden()

    fresh = page.context.browser.new_context().new_page()  # another tab session: asked again
    try:
        fresh.goto(seeded.url + "/reranker")
        fresh.get_by_test_id("rollback").click()
        expect(fresh.get_by_test_id("token-dialog")).to_be_visible()
    finally:
        fresh.context.close()
