"""Who may do what over HTTP: bearer tokens per endpoint, and the headers every answer carries.

Each route handler says what it is with `opt`:

- `ADMIN`: it changes what is trained or served (POST /api/reranker/{mine,train,evaluate,promote,
  rollback}). With CODESIFT_ADMIN_TOKEN set it needs `Authorization: Bearer <admin token>`.
- `READ`: it reads the index or feeds it (search, feedback, the reranker's GETs, /mcp). Open unless
  CODESIFT_READ_TOKEN is set; then the read token or the admin token.
- nothing: open (the pages and their assets, /api/health for probes, /metrics for scrapers,
  /schema), so a page can load and ask for a token.

No `Authorization` header, or one that is not `Bearer <token>`, is 401 with `WWW-Authenticate:
Bearer`; a token the endpoint does not accept is 403. Tokens are compared in constant time. The
operations that need a token declare the `bearer` security scheme in the OpenAPI schema.

Every answer (pages, API, errors, /mcp) carries `SECURITY_HEADERS`; everything but the static
assets also `Cache-Control: no-store`. There is no CORS: no Access-Control-* header is ever sent,
so other origins' scripts cannot read any answer.
"""

from __future__ import annotations

import hmac
from typing import Any

import msgspec
from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.datastructures import Headers, MutableScopeHeaders
from litestar.handlers.base import BaseRouteHandler
from litestar.handlers.http_handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Components, SecurityRequirement, SecurityScheme
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.errors import ErrorBody, Forbidden, GatewayError, NotAuthenticated, error_body
from services.gateway.settings import GatewaySettings

ACCESS = "access"
ADMIN_LEVEL, READ_LEVEL = "admin", "read"
ADMIN = {ACCESS: ADMIN_LEVEL}
READ = {ACCESS: READ_LEVEL}
SCHEME = "bearer"
HEADER = "Authorization"

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
CACHEABLE_PREFIX = "/static/"


def security_components() -> Components:
    description = (
        "`Authorization: Bearer <token>`: the admin token (CODESIFT_ADMIN_TOKEN, written by "
        "`codesift up` to DATA_DIR/secrets/admin.token; `codesift token` prints it) for the "
        "reranker's jobs; the read token (CODESIFT_READ_TOKEN) or the admin token elsewhere when "
        "a read token is set."
    )
    return Components(
        security_schemes={SCHEME: SecurityScheme(type="http", scheme="bearer", description=description)}
    )


class Access:
    """The tokens this gateway accepts, the guard that checks them and the schema's declaration."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.admin = settings.admin_token.encode()
        self.read = settings.read_token.encode()

    def accepted(self, level: str | None) -> list[bytes]:
        """The tokens an endpoint of this level accepts; empty: it is open."""
        if level == ADMIN_LEVEL:
            return [self.admin] if self.admin else []
        if level == READ_LEVEL and self.read:
            return [self.read, self.admin] if self.admin else [self.read]
        return []

    def check(self, level: str | None, header: str | None) -> None:
        """Let a request with this `Authorization` header through, or raise 401/403."""
        tokens = self.accepted(level)
        if not tokens:
            return
        which = "the admin token" if level == ADMIN_LEVEL else "the read or the admin token"
        if header is None:
            raise NotAuthenticated(f"{HEADER}: missing; send `{HEADER}: Bearer <token>` with {which}", HEADER)
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise NotAuthenticated(f"{HEADER}: expected `Bearer <token>` with {which}", HEADER)
        given = token.encode()
        # compare with every accepted token (no early exit), each in constant time
        matches = [hmac.compare_digest(given, accepted) for accepted in tokens]
        if not any(matches):
            raise Forbidden(f"{HEADER}: this token is not accepted here; send {which}", HEADER)

    async def guard(self, connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        """Litestar guard, on every route: the level its handler declares in `opt`."""
        self.check(handler.opt.get(ACCESS), connection.headers.get(HEADER))

    def wrap(self, app: ASGIApp, level: str) -> ASGIApp:
        """A plain ASGI app (the MCP server on a port of its own) behind the same check and headers."""

        async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return

            async def send_with_headers(message: Message) -> None:
                await security_headers(message, scope)
                await send(message)

            try:
                self.check(level, Headers.from_scope(scope).get(HEADER))
            except GatewayError as exc:
                body = error_body(exc)
                headers = {"content-type": "application/json", **(exc.headers or {})}
                start: Message = {
                    "type": "http.response.start",
                    "status": body.status_code,
                    "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
                }
                await send_with_headers(start)
                await send({"type": "http.response.body", "body": msgspec.json.encode(body)})
                return
            await app(scope, receive, send_with_headers)

        return guarded

    def declare(self, app: Litestar) -> None:
        """Put the bearer scheme on every operation of the schema that needs a token now."""
        requirement: list[SecurityRequirement] = [{SCHEME: []}]
        refusals = {
            401: ResponseSpec(ErrorBody, description=f"No token, or `{HEADER}` is not `Bearer <token>`."),
            403: ResponseSpec(ErrorBody, description="The token is not accepted here."),
        }
        for route in app.routes:
            for handler in getattr(route, "route_handlers", []):
                if isinstance(handler, HTTPRouteHandler) and self.accepted(handler.opt.get(ACCESS)):
                    handler.security = requirement
                    handler.responses = {**(handler.responses or {}), **refusals}


async def security_headers(message: Message, scope: Scope) -> None:
    """Litestar before_send hook: the security headers on every answer, no-store outside /static."""
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders.from_message(message)
    for name, value in SECURITY_HEADERS.items():
        if name not in headers:
            headers[name] = value
    if not scope.get("path", "").startswith(CACHEABLE_PREFIX):
        headers["cache-control"] = "no-store"
