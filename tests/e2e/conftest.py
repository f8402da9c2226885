"""Browser tests: a real stack and real headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.stack import ROOT, Stack, codesift

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TOKEN_KEY = (
    "codesift.token"  # where the pages keep the token (sessionStorage, services/gateway/static/token.js)
)


@pytest.fixture(scope="module")
def browser():
    """Per module: Playwright's sync API runs an event loop in this thread while it is open, which
    would break the async tests that run after the browser tests."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `apt-get install chromium` (make test installs it)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@contextlib.contextmanager
def sample_stack(data_dir: Path, **options) -> Iterator[Stack]:
    """A real stack with one replica (Stack `options` beside), the sample repository indexed."""
    s = Stack(data_dir, replicas=1, **options)
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


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    with sample_stack(tmp_path_factory.mktemp("e2e") / "data") as s:
        yield s


@pytest.fixture
def page(browser, stack):
    context = browser.new_context()
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def admin_page(page, stack):
    """A page whose tab holds the stack's admin token already, as once it was typed in the dialog."""
    token = json.dumps(stack.admin_token())
    page.context.add_init_script(f"sessionStorage.setItem({json.dumps(TOKEN_KEY)}, {token})")
    return page
