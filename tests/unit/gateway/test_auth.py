"""Who may do what over HTTP: admin and read tokens, the schema's declaration, the headers.

The gateway runs against a real nats-server; a command that passes the guard is stored in
JetStream (202), one refused is not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from services.gateway.app import create_app
from services.gateway.settings import GatewaySettings
from tests.conftest import NatsServer
from tests.integration.stack import ROOT, free_port
from tests.unit.gateway.conftest import TIMEOUT
from tests.unit.gateway.reranker_seed import NEW
from tests.unit.gateway.test_reranker import stored_commands

ADMIN = "admin-token-0123456789"
READ = "read-token-abcdefghij"
# every mutating endpoint, with a body it accepts
COMMANDS = [
    ("/api/reranker/mine", {"source": "bootstrap"}),
    ("/api/reranker/train", {"epochs": 1}),
    ("/api/reranker/evaluate", {"model": NEW}),
    ("/api/reranker/promote", {"model": NEW}),
    ("/api/reranker/rollback", None),
]
READS = ["/api/reranker/status", "/api/reranker/logs", "/api/reranker/models", "/api/reranker/jobs/x"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    (tmp_path / "data" / "models" / NEW).mkdir(parents=True)
    return tmp_path / "data"


def gateway(nats_server: NatsServer, data_dir: Path, **tokens: str) -> AsyncTestClient:
    settings = GatewaySettings(nats_url=nats_server.url, request_timeout=TIMEOUT, data_dir=data_dir, **tokens)
    return AsyncTestClient(app=create_app(settings))


@pytest.fixture
async def admin_only(nats_server: NatsServer, data_dir: Path) -> AsyncIterator[AsyncTestClient]:
    async with gateway(nats_server, data_dir, admin_token=ADMIN) as client:
        yield client


@pytest.fixture
async def both(nats_server: NatsServer, data_dir: Path) -> AsyncIterator[AsyncTestClient]:
    async with gateway(nats_server, data_dir, admin_token=ADMIN, read_token=READ) as client:
        yield client


def post(client: AsyncTestClient, path: str, body: object, headers: dict[str, str] | None = None):
    return client.post(path, content=b"" if body is None else json.dumps(body), headers=headers or {})


@pytest.mark.parametrize(("path", "body"), COMMANDS)
@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", f"Basic {ADMIN}", ADMIN, f"Token {ADMIN}"],
    ids=["none", "empty", "bearer-alone", "bearer-blank", "basic", "bare-token", "other-scheme"],
)
async def test_a_command_without_a_bearer_token_is_401_naming_the_header_and_not_stored(
    admin_only, nats_server, path, body, authorization
):
    headers = {} if authorization is None else {"Authorization": authorization}
    r = await post(admin_only, path, body, headers)

    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"].startswith("Bearer")
    error = r.json()
    assert error["status_code"] == 401 and error["field"] == "Authorization"
    assert error["detail"].startswith("Authorization: ") and "Bearer <token>" in error["detail"]
    assert await stored_commands(nats_server.url) == []


@pytest.mark.parametrize(("path", "body"), COMMANDS)
@pytest.mark.parametrize("token", [ADMIN + "x", ADMIN[:-1], "nope", "ünïcode", READ])
async def test_a_command_with_a_wrong_token_is_403_and_not_stored(admin_only, nats_server, path, body, token):
    # a header carries bytes: the token's UTF-8 as it is
    r = await admin_only.post(path, content=b"", headers=[(b"authorization", f"Bearer {token}".encode())])

    assert r.status_code == 403, r.text
    assert r.json() == {
        "status_code": 403,
        "detail": "Authorization: this token is not accepted here; send the admin token",
        "field": "Authorization",
    }
    assert await stored_commands(nats_server.url) == []


@pytest.mark.parametrize(("path", "body"), COMMANDS)
async def test_a_command_with_the_admin_token_is_accepted_and_stored(admin_only, nats_server, path, body):
    r = await post(admin_only, path, body, {"Authorization": f"bearer   {ADMIN} "})  # scheme: any case

    assert r.status_code == 202, r.text
    stored = await stored_commands(nats_server.url)
    assert [command.job_id for _, command in stored] == [r.json()["job_id"]]


async def test_the_read_token_does_not_run_commands(both, nats_server):
    r = await post(both, "/api/reranker/rollback", None, bearer(READ))
    assert r.status_code == 403
    assert r.json()["detail"] == "Authorization: this token is not accepted here; send the admin token"
    assert (await post(both, "/api/reranker/rollback", None, bearer(ADMIN))).status_code == 202


async def test_the_guard_answers_before_the_body_is_judged(admin_only, nats_server):
    r = await post(admin_only, "/api/reranker/train", {"loss": "hinge"})  # an invalid option
    assert r.status_code == 401
    r = await post(admin_only, "/api/reranker/train", {"loss": "hinge"}, bearer(ADMIN))
    assert r.status_code == 400 and r.json()["field"] == "loss"


async def test_without_a_read_token_search_feedback_reads_and_mcp_stay_open(admin_only):
    for path in READS:
        r = await admin_only.get(path)
        assert r.status_code not in (401, 403), (path, r.text)
    search = await admin_only.get("/api/search", params={"q": " "})
    assert search.status_code == 400 and search.json()["field"] == "q"  # judged, not refused
    feedback = await admin_only.post("/api/telemetry/event", content=b"{}")
    assert feedback.status_code == 400
    mcp = await admin_only.post("/mcp", content=b"{}", headers={"Content-Type": "application/json"})
    assert mcp.status_code not in (401, 403)


@pytest.mark.parametrize("path", ["/api/health", "/metrics", "/", "/reranker", "/static/app.js", "/schema"])
async def test_probes_scrapers_pages_and_the_schema_stay_open_with_both_tokens(both, path):
    r = await both.get(path)
    assert r.status_code in (200, 503), (path, r.text)  # health is 503 when no replica answers


@pytest.mark.parametrize("path", READS)
async def test_with_a_read_token_reads_need_the_read_or_the_admin_token(both, path):
    missing = await both.get(path)
    assert missing.status_code == 401 and missing.json()["field"] == "Authorization"
    assert missing.json()["detail"] == (
        "Authorization: missing; send `Authorization: Bearer <token>` with the read or the admin token"
    )
    wrong = await both.get(path, headers=bearer("guess"))
    assert wrong.status_code == 403
    for token in (READ, ADMIN):
        r = await both.get(path, headers=bearer(token))
        assert r.status_code not in (401, 403), (path, token, r.text)


async def test_with_a_read_token_search_feedback_and_mcp_need_a_token(both):
    assert (await both.get("/api/search", params={"q": "x"})).status_code == 401
    assert (await both.post("/api/telemetry/event", content=b"{}")).status_code == 401
    mcp = await both.post("/mcp", content=b"{}", headers={"Content-Type": "application/json"})
    assert mcp.status_code == 401 and mcp.headers["www-authenticate"].startswith("Bearer")
    assert (await both.get("/api/search", params={"q": " "}, headers=bearer(READ))).status_code == 400
    feedback = await both.post("/api/telemetry/event", content=b"{}", headers=bearer(ADMIN))
    assert feedback.status_code == 400 and feedback.json()["field"] != "Authorization"
    mcp = await both.post("/mcp", content=b"{}", headers={"Content-Type": "application/json", **bearer(READ)})
    assert mcp.status_code not in (401, 403)


async def test_a_read_token_alone_leaves_commands_open(nats_server, data_dir):
    async with gateway(nats_server, data_dir, read_token=READ) as client:
        assert (await client.get("/api/reranker/status")).status_code == 401
        assert (await post(client, "/api/reranker/rollback", None, bearer(READ))).status_code == 202
        assert (await post(client, "/api/reranker/rollback", None)).status_code == 202


async def test_the_schema_declares_the_bearer_scheme_where_a_token_is_needed(admin_only, both, client):
    def operations(schema: dict) -> dict[str, dict]:
        return {op["operationId"]: op for item in schema["paths"].values() for op in item.values()}

    admin = (await admin_only.get("/schema/openapi.json")).json()
    scheme = admin["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    ops = operations(admin)
    protected = {name for name, op in ops.items() if op.get("security") == [{"bearer": []}]}
    mutating = {
        op["operationId"]
        for item in admin["paths"].values()
        for method, op in item.items()
        if method not in ("get", "head")
    }
    assert protected == mutating - {"telemetryEvent"}  # every command: none forgotten
    assert protected == {
        "rerankerMine",
        "rerankerTrain",
        "rerankerEvaluate",
        "rerankerPromote",
        "rerankerRollback",
        "rerankerExperimentStart",
        "rerankerExperimentStop",
    }
    for name in protected:
        assert {"401", "403"} <= set(ops[name]["responses"])

    everything = operations((await both.get("/schema/openapi.json")).json())
    open_ones = {name for name, op in everything.items() if "security" not in op}
    assert open_ones == {"health"}

    none = operations((await client.get("/schema/openapi.json")).json())  # no token set: nothing to send
    assert not any("security" in op or "401" in op["responses"] for op in none.values())


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/reranker",
        "/static/app.js",
        "/api/health",
        "/api/reranker/status",
        "/schema",
        "/nothing",
        "/mcp",
    ],
)
async def test_every_answer_carries_the_security_headers_and_no_cors(both, path):
    r = await both.get(path, headers={"Origin": "https://evil.example"})

    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY"
    assert not [h for h in r.headers if h.lower().startswith("access-control-")]
    if path.startswith("/static/"):
        assert "no-store" not in r.headers.get("cache-control", "")
    else:
        assert r.headers["cache-control"] == "no-store"
    if path in ("/", "/reranker"):
        assert "default-src 'self'" in r.headers["content-security-policy"]


async def test_a_cors_preflight_gets_no_access_control_headers(admin_only):
    r = await admin_only.options(
        "/api/reranker/rollback",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert not [h for h in r.headers if h.lower().startswith("access-control-")]
    refused = await post(admin_only, "/api/reranker/rollback", None, {"Origin": "https://evil.example"})
    assert refused.status_code == 401
    assert not [h for h in refused.headers if h.lower().startswith("access-control-")]
    assert refused.headers["cache-control"] == "no-store"


def test_the_mcp_server_on_a_port_of_its_own_asks_for_the_read_token_too(nats_server: NatsServer) -> None:
    port = free_port()
    env = os.environ | {"CODESIFT_NATS_URL": nats_server.url, "CODESIFT_READ_TOKEN": READ}
    process = subprocess.Popen(
        [sys.executable, "-m", "services.gateway", "mcp", "--http", str(port)],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    hello = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }

    def initialize(headers: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/mcp",
            json.dumps(hello).encode(),
            {"Content-Type": "application/json", "Accept": "application/json, text/event-stream", **headers},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return r.status, r.read(), {k.lower(): v for k, v in r.headers.items()}
        except urllib.error.HTTPError as e:
            return e.code, e.read(), {k.lower(): v for k, v in e.headers.items()}

    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body, headers = initialize({})
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, process.stderr
                time.sleep(0.2)
        assert status == 401 and headers["www-authenticate"].startswith("Bearer")
        assert json.loads(body)["field"] == "Authorization"
        assert headers["x-content-type-options"] == "nosniff"
        assert initialize(bearer("guess"))[0] == 403
        status, body, headers = initialize(bearer(READ))
        assert status == 200 and json.loads(body)["result"]["serverInfo"]
        assert headers["x-frame-options"] == "DENY"
    finally:
        process.terminate()
        process.wait(timeout=20)


async def test_a_token_outside_ascii_is_compared_byte_for_byte(nats_server, data_dir):
    async with gateway(nats_server, data_dir, admin_token="jeton-ünïcode") as client:
        sent = [(b"authorization", "Bearer jeton-ünïcode".encode())]
        assert (await client.post("/api/reranker/rollback", content=b"", headers=sent)).status_code == 202
        other = [(b"authorization", b"Bearer jeton-unicode")]
        assert (await client.post("/api/reranker/rollback", content=b"", headers=other)).status_code == 403
