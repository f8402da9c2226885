"""Turning msgspec decode errors into a Problem that names the field."""

from __future__ import annotations

import re
from typing import TypeVar

import msgspec

from shared.schemas import Problem, newline_problem

T = TypeVar("T")
# A model version is a key in KV `evals`/`registry` and a name in the object store `models`:
# NATS keys take these characters only (cross-encoder-codesift-20261125-120000).
MODEL_VERSION = re.compile(r"^[A-Za-z0-9_=.-]{1,200}$")
_PATH = re.compile(r" - at `\$\.?([^`]*)`")
MAX_FIELD = 200  # characters of a field's name (its path) in a Problem
MAX_MESSAGE = 300  # characters of a Problem's message, the refused value quoted in it


def problem_from(exc: msgspec.ValidationError | msgspec.DecodeError) -> Problem:
    """'Expected `int` <= 100 - at `$.k`' -> Problem(field='k', message='Expected `int` <= 100')."""
    text = str(exc)
    match = _PATH.search(text)
    field = match.group(1) if match else ""
    if not field:
        missing = re.search(r"missing required field `([^`]+)`", text)
        unknown = re.search(r"unknown field `([^`]+)`", text)
        field = (missing or unknown).group(1) if (missing or unknown) else "body"
    return Problem(field=_cut(field, MAX_FIELD), message=_cut(_PATH.sub("", text), MAX_MESSAGE))


def _cut(text: str, limit: int) -> str:
    """msgspec quotes the value it refused: a 200 KB field must not become a 200 KB reason."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def version_problem(version: str) -> str | None:
    """Why `version` (a model directory's name) cannot be a model version, or None."""
    if MODEL_VERSION.match(version):
        return None
    return f"{version[:100]!r} is not a model version (letters, digits, `_=.-`, at most 200)"


def whole_numbers(value: object) -> object:
    """Integral floats (`5.0`) as ints, in a decoded JSON value and everything inside it.

    JSON Schema's `integer` is any number with a zero fractional part, so `{"epochs": 5.0}` is valid
    for a documented integer; msgspec (strict) refuses a float for an int. Every int is also accepted
    where a float is, so this changes no other answer.
    """
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, dict):
        return {key: whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [whole_numbers(item) for item in value]
    return value


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
