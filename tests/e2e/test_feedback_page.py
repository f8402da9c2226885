"""Feedback from the search page in real headless Chromium, through the real stack to the log."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, Request, Response, Route, expect

pytestmark = pytest.mark.slow

FEEDBACK_URL = "/api/telemetry/event"
LOG_WAIT = 20.0  # seconds for an accepted event to reach the log
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
QUESTION = "where is the bearer token validated"


class Sent:
    """The feedback events the page POSTed, and the status of each answer, in order."""

    def __init__(self, page: Page) -> None:
        self.events: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        page.on("request", self._request)
        page.on("response", self._response)

    def _request(self, request: Request) -> None:
        if request.method == "POST" and request.url.endswith(FEEDBACK_URL):
            self.events.append(json.loads(request.post_data or "{}"))

    def _response(self, response: Response) -> None:
        if response.url.endswith(FEEDBACK_URL):
            self.statuses.append(response.status)

    def wait(self, n: int, page: Page) -> list[dict[str, Any]]:
        deadline = time.monotonic() + 10
        while len(self.statuses) < n and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        assert len(self.events) == n, self.events
        return self.events


def search(page: Page, stack: Any, question: str = QUESTION) -> str:
    """Search from the page (as a user does) and return the response's query id."""
    page.goto(stack.url + "/")
    page.fill("#q", question)
    page.press("#q", "Enter")
    expect(page.locator("[data-testid=result]").first).to_be_visible(timeout=15_000)
    query_id = page.locator("#results").get_attribute("data-query-id")
    assert query_id and re.fullmatch(r"[0-9a-f]{32}", query_id)
    return query_id


def result(page: Page, position: int) -> Locator:
    return page.locator(f"[data-testid=result][data-position='{position}']")


def logged(data_dir: Path, event_ids: set[str], timeout: float = LOG_WAIT) -> dict[str, dict[str, Any]]:
    """The log lines of `event_ids`, waiting until each is there; each must be there exactly once."""
    log = data_dir / "logs" / "queries.jsonl"
    deadline = time.monotonic() + timeout
    while True:
        lines = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        found = [line for line in lines if line.get("event_id") in event_ids]
        if {line["event_id"] for line in found} == event_ids or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert sorted(line["event_id"] for line in found) == sorted(event_ids), f"{log}: {found}"
    return {line["event_id"]: line for line in found}


def test_click_thumbs_down_and_a_note_reach_the_log(page: Page, stack: Any) -> None:
    sent = Sent(page)
    query_id = search(page, stack)
    page.evaluate("window.notReloaded = true")
    first, third = result(page, 1), result(page, 3)

    # opening a result shows its chunk in a focused view and records a click
    first.get_by_test_id("result-open").click()
    view = page.get_by_test_id("chunk-view")
    expect(view).to_be_visible()
    doc_id = first.get_attribute("data-doc-id")
    expect(view).to_have_attribute("data-doc-id", doc_id or "")
    assert view.locator(".line").all_inner_texts() == first.locator(".line").all_inner_texts()
    page.keyboard.press("Escape")
    expect(view).to_be_hidden()
    expect(first).to_have_attribute("data-click", "sent", timeout=10_000)

    third.get_by_test_id("thumbs-down").click()
    expect(third.get_by_test_id("thumbs-down")).to_have_attribute("aria-pressed", "true")
    expect(third.get_by_test_id("thumbs-up")).to_have_attribute("aria-pressed", "false")
    expect(third.get_by_test_id("feedback-status")).to_have_text("Thanks — sent", timeout=10_000)

    page.fill("#note", "how an expired token is refreshed")
    page.get_by_test_id("note-send").click()
    expect(page.get_by_test_id("note-status")).to_have_text("Thanks — sent", timeout=10_000)
    expect(page.locator("#note")).to_have_value("")

    click, thumbs_down, note = sent.wait(3, page)
    assert sent.statuses == [202, 202, 202]
    assert page.evaluate("window.notReloaded") is True
    for event in (click, thumbs_down, note):
        assert UUID.match(event["event_id"])
        assert event["query_id"] == query_id
        assert event["query"] == QUESTION
    assert len({e["event_id"] for e in (click, thumbs_down, note)}) == 3
    assert (click["doc_id"], click["rating"], click["source"], click["position"], click["repo"]) == (
        doc_id, 5, "click", 1, "sample"
    )  # fmt: skip
    assert (thumbs_down["doc_id"], thumbs_down["rating"], thumbs_down["source"], thumbs_down["position"]) == (
        third.get_attribute("data-doc-id"), 1, "thumbs_down", 3
    )  # fmt: skip
    assert (note["doc_id"], note["rating"], note["source"], note["note"]) == (
        "", 1, "note", "how an expired token is refreshed"
    )  # fmt: skip
    assert "position" not in note

    lines = logged(stack.data_dir, {e["event_id"] for e in (click, thumbs_down, note)})
    for event in (click, thumbs_down, note):
        line = lines[event["event_id"]]
        for key in ("query", "doc_id", "rating", "source", "query_id"):
            assert line[key] == event[key], (key, line)
        assert line.get("position") == event.get("position")


def test_keyboard_only_feedback(page: Page, stack: Any) -> None:
    sent = Sent(page)
    page.goto(stack.url + "/")
    page.keyboard.type("password hashing")  # the query box has focus on arrival
    page.keyboard.press("Enter")
    expect(page.locator("[data-testid=result]").first).to_be_visible(timeout=15_000)
    second = result(page, 2)

    def tab_to(target: Locator, limit: int = 60) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if target.evaluate("node => node === document.activeElement"):
                assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
                return
        pytest.fail(f"Tab never reached {target}")

    tab_to(second.get_by_test_id("result-open"))
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("chunk-view")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("chunk-view")).to_be_hidden()
    assert second.get_by_test_id("result-open").evaluate("node => node === document.activeElement")

    up, down = second.get_by_test_id("thumbs-up"), second.get_by_test_id("thumbs-down")
    tab_to(up)
    page.keyboard.press("Space")
    expect(up).to_have_attribute("aria-pressed", "true")
    expect(second.get_by_test_id("feedback-status")).to_have_text("Thanks — sent", timeout=10_000)
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(down).to_have_attribute("aria-pressed", "true")
    expect(up).to_have_attribute("aria-pressed", "false")
    expect(second.get_by_test_id("feedback-status")).to_have_text("Thanks — sent", timeout=10_000)

    events = sent.wait(3, page)
    assert [(e["source"], e["rating"], e["position"]) for e in events] == [
        ("click", 5, 2),
        ("thumbs_up", 5, 2),
        ("thumbs_down", 1, 2),
    ]
    assert sent.statuses == [202, 202, 202]
    lines = logged(stack.data_dir, {e["event_id"] for e in events})
    assert sorted(line["source"] for line in lines.values()) == ["click", "thumbs_down", "thumbs_up"]


def test_a_failed_send_shows_an_error_and_retries_the_same_event(page: Page, stack: Any) -> None:
    sent = Sent(page)
    answers = iter(["unavailable"])

    def first_one_fails(route: Route) -> None:
        if next(answers, None) == "unavailable":
            body = {"status_code": 503, "detail": "the message bus is unreachable", "field": None}
            route.fulfill(status=503, json=body)
        else:
            route.continue_()

    page.route(f"**{FEEDBACK_URL}", first_one_fails)
    search(page, stack, "least recently used cache")
    first = result(page, 1)

    first.get_by_test_id("thumbs-up").click()
    status = first.get_by_test_id("feedback-status")
    expect(status).to_have_text(re.compile(r"^Not sent: the message bus is unreachable"), timeout=10_000)
    retry = first.get_by_test_id("feedback-retry")
    expect(retry).to_be_visible()
    retry.click()
    expect(status).to_have_text("Thanks — sent", timeout=10_000)
    expect(retry).to_be_hidden()
    expect(first.get_by_test_id("thumbs-up")).to_be_focused()  # not lost with the Retry button

    failed, retried = sent.wait(2, page)
    assert sent.statuses == [503, 202]
    assert retried == failed  # the same event, the same id: stored once however often it is sent
    line = logged(stack.data_dir, {failed["event_id"]})[failed["event_id"]]
    assert (line["source"], line["rating"], line["position"]) == ("thumbs_up", 5, 1)
