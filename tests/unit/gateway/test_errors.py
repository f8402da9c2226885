"""The one mapping from errors to HTTP status and body."""

from __future__ import annotations

import logging

import pytest
from litestar.exceptions import NotFoundException, ValidationException

from services.gateway.errors import BadReply, ErrorBody, InvalidParameter, Unavailable, error_body


def test_gateway_errors_have_their_status() -> None:
    assert error_body(InvalidParameter("k", "too big")) == ErrorBody(400, "k: too big", "k")
    assert error_body(BadReply("garbage")) == ErrorBody(502, "garbage")
    assert error_body(Unavailable("no replica")) == ErrorBody(503, "no replica")


def test_litestar_validation_names_the_parameter() -> None:
    exc = ValidationException(
        "Validation failed", extra=[{"message": "Expected `int`", "key": "k", "source": "query"}]
    )

    assert error_body(exc) == ErrorBody(400, "k: Expected `int`", "k")


def test_other_http_errors_keep_their_status() -> None:
    assert error_body(NotFoundException("no such page")) == ErrorBody(404, "no such page")


def test_unexpected_errors_are_500_logged_and_not_leaked(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="services.gateway.errors"):
        body = error_body(RuntimeError("secret internals"))

    assert body.status_code == 500
    assert "secret" not in body.detail
    assert "secret internals" in caplog.text
