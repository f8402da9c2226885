"""The gateway's errors, and the one function that turns any error into an HTTP response.

Every error answer has the same JSON body, `ErrorBody`:
`{"status_code": 400, "detail": "k: Expected `int` <= 100", "field": "k"}`. `field` names the
request parameter or JSON body field at fault (`body` when the body as a whole is unreadable, null
when nothing the client sent is at fault), and `detail` then starts with it.

| error | status |
| --- | --- |
| `InvalidParameter` (a parameter or body field is rejected), Litestar's validation | 400 |
| `NotAuthenticated` (no or a malformed `Authorization` header where a token is needed) | 401 |
| `Forbidden` (a token this endpoint does not accept) | 403 |
| `TooLarge` (a request body over the endpoint's limit) | 413 |
| `BadReply` (a replica answered something unreadable) | 502 |
| `Conflict` (a trainer job is already running) | 409 |
| `Unavailable` (the bus is down, no search replica answered in time, JetStream did not acknowledge) | 503 |
| Litestar's HTTP exceptions (404, 405, ...) | their own |
| anything else (logged with its traceback) | 500 |
"""

from __future__ import annotations

import logging

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from services.gateway.instruments import count_failure

logger = logging.getLogger(__name__)


class GatewayError(Exception):
    """Base of the gateway's own errors: a message for people and, when one is at fault, the field."""

    headers: dict[str, str] | None = None  # sent with the answer

    def __init__(self, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class InvalidParameter(GatewayError):
    """A request parameter is rejected, by the gateway or by the replica that judged it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}", field)


class NotAuthenticated(GatewayError):
    """No token, or an `Authorization` header that is not `Bearer <token>`; asks for a bearer token."""

    headers = {"WWW-Authenticate": 'Bearer realm="codesift"'}


class Forbidden(GatewayError):
    """A token, but not one this endpoint accepts."""


class TooLarge(GatewayError):
    """A request body is larger than the endpoint takes."""


class Conflict(GatewayError):
    """A job is already running; the detail names it."""


class Unavailable(GatewayError):
    """The message bus is unreachable, no search replica answered in time, or JetStream did not ack."""


class BadReply(GatewayError):
    """A replica answered something the gateway cannot read."""


class ErrorBody(msgspec.Struct):
    """The body of every error answer."""

    status_code: int
    detail: str
    field: str | None = None


_STATUS_OF = {
    InvalidParameter: 400,
    NotAuthenticated: 401,
    Forbidden: 403,
    Conflict: 409,
    TooLarge: 413,
    BadReply: 502,
    Unavailable: 503,
}


def error_body(exc: Exception) -> ErrorBody:
    """Map any exception to the status and body the gateway answers with."""
    if isinstance(exc, GatewayError):
        return ErrorBody(_STATUS_OF[type(exc)], exc.detail, exc.field)
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list) and exc.extra:
        # Litestar's parameter validation: [{"message": "Expected `int` >= 1", "key": "k", ...}]
        first = exc.extra[0]
        if isinstance(first, dict) and "key" in first:
            return ErrorBody(
                400, f"{first['key']}: {first.get('message', 'invalid value')}", str(first["key"])
            )
    if isinstance(exc, HTTPException):
        return ErrorBody(exc.status_code, exc.detail)
    logger.error("unhandled error: %r", exc, exc_info=exc)
    return ErrorBody(500, "internal server error: see the gateway's log")


def error_response(request: Request, exc: Exception) -> Response[ErrorBody]:
    """Litestar exception handler, registered for every exception; counts failed searches and feedback."""
    body = error_body(exc)
    count_failure(request, body.status_code)
    # Litestar's own headers stay: `Allow` on a 405 (RFC 9110), `Retry-After`, `WWW-Authenticate` ...
    headers = exc.headers if isinstance(exc, GatewayError | HTTPException) and exc.headers else None
    return Response(body, status_code=body.status_code, headers=headers)
