"""Who may do what over HTTP: bearer tokens per endpoint, and the headers every answer carries.

Each route handler says what it is with `opt`:

- `ADMIN`: it changes what is trained or served (POST /api/reranker/{mine,train,evaluate,promote,
  rollback}, POST /api/reranker/experiment and /experiment/stop). With CODESIFT_ADMIN_TOKEN set
  it needs `Authorization: Bearer <admin token>`.
- `READ`: it reads the index or feeds it (search, feedback, the reranker's GETs, /mcp). Open unless
  CODESIFT_READ_TOKEN is set; then the read token or the admin token.
- nothing: open (the pages and their assets, /api/health for probes, /metrics for scrapers,
  /schema), so a page can load and ask for a token.

`Access.middleware` checks each request against its handler's level (installed only when a token
is set): no `Authorization` header, or one that is not `Bearer <token>`, is 401 with
`WWW-Authenticate: Bearer`; a token the endpoint does not accept is 403; both before the body is
read. Tokens are compared in constant time. The operations that need a token declare the `bearer`
security scheme in the OpenAPI schema. `Access.wrap` puts the same check in front of a plain ASGI
app (`codesift mcp --http PORT`).

Every answer (pages, API, errors, /mcp) carries `SECURITY_HEADERS`; everything but the static
assets also `Cache-Control: no-store`. There is no CORS: no Access-Control-* header is ever sent,
so other origins' scripts cannot read any answer.
"""

from __future__ import annotations

import hmac

import msgspec
from litestar import Litestar
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
_SECURITY_HEADERS = [(name.encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]


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
    """The tokens this gateway accepts, the check of each request and the schema's declaration."""

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
        """Let a request with this `Authorization` header (as decoded from latin-1, as ASGI servers
        hand over header bytes) through, or raise 401/403."""
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
        given = token.encode("latin-1", errors="replace")  # the header's bytes again
        # compare with every accepted token (no early exit), each in constant time
        matches = [hmac.compare_digest(given, accepted) for accepted in tokens]
        if not any(matches):
            raise Forbidden(f"{HEADER}: this token is not accepted here; send {which}", HEADER)

    @property
    def required(self) -> bool:
        """Whether any endpoint needs a token (else no check runs at all)."""
        return bool(self.admin or self.read)

    def middleware(self, app: ASGIApp) -> ASGIApp:
        """Litestar middleware, on every route: the level its handler declares in `opt`.

        A middleware rather than a guard: Litestar copies the route handler for every guard call
        (~20 µs a request), this looks at the handler in the scope and the raw headers.
        """

        async def checked(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and (level := scope["route_handler"].opt.get(ACCESS)):
                self.check(level, _authorization(scope))
            await app(scope, receive, send)

        return checked

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
                self.check(level, _authorization(scope))
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


def _authorization(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name.lower() == b"authorization":
            return value.decode("latin-1")
    return None


async def security_headers(message: Message, scope: Scope) -> None:
    """Litestar before_send hook: the security headers on every answer, no-store outside /static."""
    if message["type"] != "http.response.start":
        return
    headers = list(message.get("headers") or ())
    present = {name.lower() for name, _ in headers}
    headers += [header for header in _SECURITY_HEADERS if header[0] not in present]
    if not scope.get("path", "").startswith(CACHEABLE_PREFIX):
        if b"cache-control" in present:
            headers = [header for header in headers if header[0].lower() != b"cache-control"]
        headers.append((b"cache-control", b"no-store"))
    message["headers"] = headers
