"""The search page at /, the reranker page at /reranker, and their assets at /static (no CDN).

Everything the pages load is served from here.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Controller, Response, get
from litestar.enums import MediaType
from litestar.static_files import create_static_files_router

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# The page loads only its own files and talks only to this gateway.
CONTENT_SECURITY_POLICY = "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

static_files = create_static_files_router(path="/static", directories=[STATIC_DIR], include_in_schema=False)


class PageController(Controller):
    """The browser GUI."""

    path = "/"
    include_in_schema = False

    @get(operation_id="searchPage", media_type=MediaType.HTML)
    async def page(self) -> Response[bytes]:
        """The search page; it reads `q`, `k` and `repo` from its own URL (`/?q=...`)."""
        return _html("index.html")

    @get("/reranker", operation_id="rerankerPage", media_type=MediaType.HTML)
    async def reranker_page(self) -> Response[bytes]:
        """The reranker page: production model, candidates and their metrics, jobs."""
        return _html("reranker.html")


def _html(name: str) -> Response[bytes]:
    return Response(
        (STATIC_DIR / name).read_bytes(),
        media_type=MediaType.HTML,
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY},
    )
