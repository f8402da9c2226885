"""Who may do what on a real `codesift up` stack started with a read token, over HTTP and in Chromium.

`codesift up` makes the admin token on the first start (private file, shown once), the gateway
listens on 127.0.0.1 only, commands need the admin token, search needs the read (or admin) token,
probes stay open, every answer carries the security headers and none a CORS header; the search
page asks for the read token and searches with it.
"""

from __future__ import annotations

import stat
import urllib.request

import psutil
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import TOKEN_KEY
from tests.integration.stack import ROOT, Stack, codesift

pytestmark = pytest.mark.slow

READ = "read-token-for-the-e2e-stack"
EVIL = "https://evil.example"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    """This module's own stack: one replica, a read token, the admin token `codesift up` makes."""
    s = Stack(tmp_path_factory.mktemp("tokens") / "data", replicas=1, env={"CODESIFT_READ_TOKEN": READ})
    try:
        s.wait_ready()
        done = codesift(
            "index", str(ROOT / "tests/fixtures/sample_repo"), "--name", "sample", data_dir=s.data_dir
        )
        assert done.returncode == 0, done.stdout + done.stderr
        s.wait_replicas(1)
        yield s
    finally:
        s.stop()


def get(stack: Stack, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(stack.url + path, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}


def test_up_makes_a_private_admin_token_shows_it_once_and_codesift_token_prints_it(stack: Stack) -> None:
    path = stack.data_dir / "secrets" / "admin.token"
    token = path.read_text().strip()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    shown = [line for line in stack.output().splitlines() if token in line]
    assert len(shown) == 1 and f"admin token: {token} (stored in {path})" in shown[0]
    printed = codesift("token", data_dir=stack.data_dir)
    assert (printed.returncode, printed.stdout) == (0, token + "\n")


def test_the_gateway_listens_on_loopback_only(stack: Stack) -> None:
    listening = set()
    for child in psutil.Process(stack.process.pid).children(recursive=True):
        if "services.gateway" in " ".join(child.cmdline()):
            listening |= {c.laddr for c in child.net_connections("inet") if c.status == psutil.CONN_LISTEN}
    assert {(addr.ip, addr.port) for addr in listening} == {("127.0.0.1", stack.port)}


def test_commands_need_the_admin_token_and_then_run(stack: Stack) -> None:
    status, error, headers = stack.post("/api/reranker/rollback")
    assert status == 401 and error["field"] == "Authorization"
    assert headers["www-authenticate"].startswith("Bearer")
    assert stack.post("/api/reranker/rollback", headers={"Authorization": f"Bearer {READ}"})[0] == 403
    status, accepted, _ = stack.post("/api/reranker/promote", {"model": "/etc/passwd"}, stack.admin_headers())
    assert status == 400 and accepted["field"] == "model"  # past the guard, judged
    status, accepted, _ = stack.post("/api/reranker/rollback", None, stack.admin_headers())
    assert status == 202 and accepted["kind"] == "rollback"


def test_search_needs_the_read_or_admin_token_and_probes_stay_open(stack: Stack) -> None:
    assert get(stack, "/api/search?q=cache")[0] == 401
    assert get(stack, "/api/search?q=cache", {"Authorization": "Bearer nope"})[0] == 403
    for token in (READ, stack.admin_token()):
        assert get(stack, "/api/search?q=cache", {"Authorization": f"Bearer {token}"})[0] == 200
    assert get(stack, "/api/health")[0] == 200
    assert get(stack, "/metrics")[0] == 200
    assert get(stack, "/schema/openapi.json")[0] == 200


@pytest.mark.parametrize("path", ["/", "/reranker", "/api/health", "/api/search?q=x", "/static/app.js"])
def test_every_answer_has_the_security_headers_and_no_cors(stack: Stack, path: str) -> None:
    _, headers = get(stack, path, {"Origin": EVIL})
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert not [name for name in headers if name.startswith("access-control-")]
    _, _, refused = stack.post("/api/reranker/mine", headers={"Origin": EVIL})
    assert not [name for name in refused if name.startswith("access-control-")]


def test_the_search_page_asks_for_the_read_token_and_searches_with_it(page: Page, stack: Stack) -> None:
    page.goto(stack.url + "/?q=least+recently+used+cache&k=5")
    dialog = page.get_by_test_id("token-dialog")
    expect(dialog).to_be_visible(timeout=10_000)
    expect(page.get_by_test_id("token-reason")).to_contain_text("the read or the admin token")

    page.get_by_test_id("token-input").fill("a-guess")
    page.get_by_test_id("token-submit").click()
    expect(page.get_by_test_id("token-reason")).to_contain_text("not accepted (403)")

    page.get_by_test_id("token-input").fill(READ)
    page.get_by_test_id("token-submit").click()
    expect(dialog).to_be_hidden()
    results = page.locator("[data-testid=result]")
    expect(results).to_have_count(5, timeout=10_000)
    assert "cache.py" in (results.first.get_attribute("data-doc-id") or "")
    assert page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") == READ
    assert page.evaluate("localStorage.length") == 0 and page.context.cookies() == []

    with page.expect_response(lambda r: r.url.endswith("/api/telemetry/event")) as feedback:
        results.first.get_by_test_id("thumbs-up").click()
    assert feedback.value.status == 202  # feedback carries the token too
