"""Turning msgspec decode errors into a Problem that names the field."""

from __future__ import annotations

import re
from typing import TypeVar

import msgspec

from shared.schemas import Problem, newline_problem

T = TypeVar("T")
_PATH = re.compile(r" - at `\$\.?([^`]*)`")


def problem_from(exc: msgspec.ValidationError | msgspec.DecodeError) -> Problem:
    """'Expected `int` <= 100 - at `$.k`' -> Problem(field='k', message='Expected `int` <= 100')."""
    text = str(exc)
    match = _PATH.search(text)
    field = match.group(1) if match else ""
    if not field:
        missing = re.search(r"missing required field `([^`]+)`", text)
        unknown = re.search(r"unknown field `([^`]+)`", text)
        field = (missing or unknown).group(1) if (missing or unknown) else "body"
    return Problem(field=field, message=_PATH.sub("", text))


def decode(decoder: msgspec.json.Decoder, data: bytes) -> tuple[T | None, Problem | None]:
    """The decoded message, or the Problem with it (a pattern's trailing newline included)."""
    try:
        decoded = decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return None, problem_from(exc)
    except RecursionError:  # a union's decoder skips fields recursively while it looks for the tag
        return None, Problem(field="body", message="JSON nested too deep")
    if isinstance(decoded, msgspec.Struct) and (problem := newline_problem(decoded)) is not None:
        return None, problem
    return decoded, None
