"""Hypothesis strategies for codesift's messages: valid ones built from the msgspec schemas themselves
(every limit in `shared.schemas` respected), and hostile ones made from them.

Hostile payloads: random bytes, a valid message cut short, one field given a value of another JSON
type, an unknown `type` tag, a field of 200 KB, JSON that is not an object. `examples()` draws a
fixed, derandomized corpus of them so that a test against a real stack sends the same bytes on
every run.
"""

from __future__ import annotations

import datetime
import math
import re
from typing import Any, TypeVar

import msgspec
import msgspec.inspect as mi
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from shared.schemas import encoder

T = TypeVar("T")
HUGE_FIELD = 200_000  # characters: well under NATS' 1 MB payload, far over any field's limit
_BIG = 2**53


def valid(kind: type[T]) -> st.SearchStrategy[T]:
    """Instances of a msgspec Struct whose every field respects the schema's limits."""
    return _strategy(mi.type_info(kind))


def _strategy(t: mi.Type) -> st.SearchStrategy[Any]:
    if isinstance(t, mi.StructType):
        return st.builds(t.cls, **{f.name: _strategy(f.type) for f in t.fields})
    if isinstance(t, mi.UnionType):
        return st.one_of(*(_strategy(member) for member in t.types))
    if isinstance(t, mi.NoneType):
        return st.none()
    if isinstance(t, mi.BoolType):
        return st.booleans()
    if isinstance(t, mi.IntType):
        low = t.ge if t.ge is not None else (t.gt + 1 if t.gt is not None else -_BIG)
        high = t.le if t.le is not None else (t.lt - 1 if t.lt is not None else _BIG)
        return st.integers(low, high)
    if isinstance(t, mi.FloatType):
        return st.floats(
            min_value=t.ge if t.ge is not None else t.gt,
            max_value=t.le if t.le is not None else t.lt,
            exclude_min=t.gt is not None,
            exclude_max=t.lt is not None,
            allow_nan=False,
            allow_infinity=False,
        ).filter(math.isfinite)
    if isinstance(t, mi.StrType):
        return _text(t)
    if isinstance(t, mi.LiteralType):
        return st.sampled_from(t.values)
    if isinstance(t, mi.DateTimeType):
        return st.datetimes(timezones=st.just(datetime.UTC))
    if isinstance(t, mi.ListType):
        return st.lists(
            _strategy(t.item_type), min_size=t.min_length or 0, max_size=max(3, t.min_length or 0)
        )
    if isinstance(t, mi.DictType):
        return st.dictionaries(_strategy(t.key_type), _strategy(t.value_type), max_size=3)
    if isinstance(t, mi.AnyType) or (isinstance(t, mi.CustomType) and t.cls is object):
        return st.one_of(st.none(), st.booleans(), st.integers(-_BIG, _BIG), st.text(max_size=20))
    raise TypeError(f"no strategy for {t!r}")


def _text(t: mi.StrType) -> st.SearchStrategy[str]:
    low, high = t.min_length or 0, t.max_length if t.max_length is not None else 300
    if t.pattern is None:
        return st.text(min_size=low, max_size=min(high, 300))
    compiled = re.compile(t.pattern)
    return st.from_regex(compiled, fullmatch=True).filter(
        lambda s: low <= len(s) <= high and compiled.search(s) is not None
    )


def encoded(kind: type) -> st.SearchStrategy[bytes]:
    return valid(kind).map(encoder.encode)


def _as_dict(kind: type) -> st.SearchStrategy[dict[str, Any]]:
    return valid(kind).map(msgspec.to_builtins)


OTHER_JSON = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),  # beyond 64 bits too
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def truncated(kind: type) -> st.SearchStrategy[bytes]:
    """A valid message cut anywhere before its end."""
    return encoded(kind).flatmap(lambda b: st.integers(0, len(b) - 1).map(lambda n: b[:n]))


def wrong_type(kind: type) -> st.SearchStrategy[bytes]:
    """A valid message with one field's value replaced by some other JSON value."""

    def replace(d: dict[str, Any]) -> st.SearchStrategy[bytes]:
        names = [name for name in d if name != "type"] or ["type"]
        return st.tuples(st.sampled_from(names), OTHER_JSON).map(
            lambda pair: msgspec.json.encode({**d, pair[0]: pair[1]})
        )

    return _as_dict(kind).flatmap(replace)


def unknown_tag(kind: type) -> st.SearchStrategy[bytes]:
    """A valid message whose `type` tag names no kind (or whose tag is not a string)."""
    tags = st.one_of(st.text(max_size=20).filter(lambda s: "." not in s), st.integers(), st.none())
    return st.tuples(_as_dict(kind), tags).map(lambda pair: msgspec.json.encode({**pair[0], "type": pair[1]}))


def huge_field(kind: type) -> st.SearchStrategy[bytes]:
    """A valid message with one field (or a new one) of HUGE_FIELD characters."""

    def grow(d: dict[str, Any]) -> st.SearchStrategy[bytes]:
        names = [name for name in d if name != "type"] + ["padding"]
        return st.sampled_from(names).map(lambda name: msgspec.json.encode({**d, name: "x" * HUGE_FIELD}))

    return _as_dict(kind).flatmap(grow)


NOT_AN_OBJECT = st.sampled_from([b"", b"null", b"[]", b"1", b'"text"', b"{", b"\x00\xff", b"{}"])


def hostile(kind: type) -> st.SearchStrategy[bytes]:
    """Every kind of hostile payload for a message of `kind`."""
    return st.one_of(
        st.binary(max_size=300),
        NOT_AN_OBJECT,
        truncated(kind),
        wrong_type(kind),
        unknown_tag(kind),
        huge_field(kind),
    )


def examples(strategy: st.SearchStrategy[T], n: int) -> list[T]:
    """Up to `n` examples of `strategy`, the same on every run (derandomized, no database)."""
    drawn: list[T] = []

    @settings(
        max_examples=n,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value: T) -> None:
        drawn.append(value)

    collect()
    return drawn[:n]
