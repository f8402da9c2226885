"""The reranker page and its assets: served like the search page, under the same CSP."""

from __future__ import annotations

from litestar.testing import AsyncTestClient


async def test_serves_the_reranker_page_with_its_controls(client: AsyncTestClient) -> None:
    answer = await client.get("/reranker")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in answer.headers["content-security-policy"]
    page = answer.text
    controls = (
        "mine",
        "train",
        "rollback",
        "promote-force",
        "loss-model",
        "metrics-chart",
        "models-table",
        "importances",
    )
    for testid in controls:
        assert f'data-testid="{testid}"' in page
    for labelled in ("train-epochs", "train-budget", "train-loss", "mine-source", "eval-split"):
        assert f'<label for="{labelled}">' in page and f'id="{labelled}"' in page
    assert 'aria-live="polite"' in page and 'role="alert"' in page
    for asset in ("/static/reranker.js", "/static/reranker.css", "/static/style.css"):
        assert asset in page
    assert "<script>" not in page and "style=" not in page  # nothing inline: the CSP would block it


async def test_serves_the_reranker_assets_and_links_the_pages(client: AsyncTestClient) -> None:
    script = await client.get("/static/reranker.js")
    style = await client.get("/static/reranker.css")
    search_page = await client.get("/")

    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "innerHTML" not in script.text
    for endpoint in ("/api/reranker/info", "/api/reranker/models", "/api/reranker/jobs/"):
        assert endpoint in script.text
    assert style.status_code == 200 and "prefers-color-scheme: dark" in style.text
    assert 'href="/reranker"' in search_page.text
