"""The search page, its static assets, the OpenAPI schema and the shape of every error."""

from __future__ import annotations

from litestar.testing import AsyncTestClient


async def test_serves_the_search_page_with_its_controls(client: AsyncTestClient) -> None:
    answer = await client.get("/", params={"q": "token"})

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in answer.headers["content-security-policy"]
    page = answer.text
    for marker in ('id="q"', "autofocus", 'id="repo"', 'id="k"', 'aria-live="polite"', 'role="alert"'):
        assert marker in page
    for feedback in ('id="note-form"', 'id="note"', 'maxlength="2000"', 'id="chunk-view"', 'role="status"'):
        assert feedback in page
    for asset in ("/static/app.js", "/static/style.css"):
        assert asset in page


async def test_serves_the_static_assets(client: AsyncTestClient) -> None:
    script = await client.get("/static/app.js")
    style = await client.get("/static/style.css")

    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert "innerHTML" not in script.text
    assert style.status_code == 200
    assert "prefers-color-scheme: dark" in style.text
    assert "/api/telemetry/event" in script.text
    icon = await client.get("/static/thumb.svg")  # the thumbs' icon, drawn by style.css
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")


async def test_openapi_lists_the_endpoints(client: AsyncTestClient) -> None:
    schema = (await client.get("/schema/openapi.json")).json()

    assert schema["info"]["title"] == "codesift"
    assert schema["paths"]["/api/search"]["get"]["operationId"] == "search"
    assert schema["paths"]["/api/health"]["get"]["operationId"] == "health"
    feedback = schema["paths"]["/api/telemetry/event"]["post"]
    assert feedback["operationId"] == "telemetryEvent"
    assert {"202", "400", "413", "503"} <= set(feedback["responses"])
    body = feedback["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["event_id", "query", "doc_id", "rating", "source", "timestamp"]
    assert body["properties"]["rating"] == {"type": "integer", "minimum": 1, "maximum": 5}
    assert "client_ip" not in body["properties"]
    parameters = {p["name"]: p for p in schema["paths"]["/api/search"]["get"]["parameters"]}
    assert parameters["q"]["required"] is True
    assert parameters["k"]["schema"]["maximum"] == 100
    assert "/" not in schema["paths"]


async def test_unknown_paths_answer_in_the_error_shape(client: AsyncTestClient) -> None:
    answer = await client.get("/api/nothing-here")

    assert answer.status_code == 404
    assert answer.json() == {"status_code": 404, "detail": "Not Found", "field": None}
