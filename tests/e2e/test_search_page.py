"""The search page in real headless Chromium against the real stack."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.integration.stack import ROOT

pytestmark = pytest.mark.slow


def test_search_shows_code_with_line_numbers_path_and_score(page, stack):
    page.goto(stack.url + "/")
    expect(page.locator("#stack-status")).to_have_attribute("data-status", "ok", timeout=10_000)
    page.fill("#q", "where is the bearer token validated")
    page.press("#q", "Enter")
    results = page.locator("[data-testid=result]")
    expect(results.first).to_be_visible(timeout=10_000)
    assert results.count() == 10
    expect(page.locator("#reranker")).to_contain_text("fusion")
    first = results.first
    doc_id = first.get_attribute("data-doc-id")
    path, lines = doc_id.rsplit(":", 1)
    start, end = (int(x) for x in lines.split("-"))
    expect(first).to_contain_text(path)
    # every line of the chunk is shown, numbered from start_line
    numbers = first.locator(".line").evaluate_all("els => els.map(e => Number(e.dataset.line))")
    assert numbers == list(range(start, end + 1))
    source = (ROOT / "tests/fixtures/sample_repo" / path).read_text().splitlines()[start - 1 : end]
    shown = first.locator(".line").all_inner_texts()
    assert [s.rstrip() for s in shown] == [s.rstrip() for s in source]
    assert any("tokens.py" in (r.get_attribute("data-doc-id") or "") for r in results.all()[:3])
    # the URL keeps the query: shareable, and the back button works
    assert "q=where+is+the+bearer+token+validated" in page.url or "q=where%20is" in page.url


def test_repo_filter_and_k_are_sent(page, stack):
    page.goto(stack.url + "/")
    expect(page.locator("#repo option[value=sample]")).to_have_count(1, timeout=10_000)
    page.select_option("#repo", "sample")
    page.select_option("#k", "5")
    page.fill("#q", "password hashing")
    page.press("#q", "Enter")
    expect(page.locator("[data-testid=result]")).to_have_count(5, timeout=10_000)


def test_shared_url_runs_the_search_and_errors_are_shown(page, stack):
    page.goto(stack.url + "/?q=least+recently+used+cache&k=5")
    expect(page.locator("[data-testid=result]").first).to_be_visible(timeout=10_000)
    assert "cache.py" in page.locator("[data-testid=result]").first.get_attribute("data-doc-id")
    page.goto(stack.url + "/?q=x&repo=does-not-exist")
    expect(page.locator("#search-error")).to_be_visible(timeout=10_000)
    expect(page.locator("#search-error")).to_contain_text("repo")
