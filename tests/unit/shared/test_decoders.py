"""Every message schema in shared/: decode(encode(x)) == x for generated valid x (every limit
respected), and hostile bytes raise msgspec's errors, never anything else."""

from __future__ import annotations

import inspect

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared import schemas
from shared.schemas import (
    AnyCommand,
    AnyEvent,
    Command,
    Event,
    command_decoder,
    encoder,
    event_decoder,
    feedback_decoder,
    impression_decoder,
)
from shared.validation import decode, problem_from
from tests.hostile_payloads import hostile, valid

PROFILE = settings(
    max_examples=40,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
SCHEMAS = sorted(
    (
        cls
        for _, cls in inspect.getmembers(schemas, inspect.isclass)
        if issubclass(cls, msgspec.Struct)
        and cls.__module__ == schemas.__name__
        and cls not in (Command, Event)
    ),
    key=lambda cls: cls.__name__,
)
BUILT_ONCE = {
    schemas.FeedbackEvent: feedback_decoder,
    schemas.Impression: impression_decoder,
    **{cls: command_decoder for cls in AnyCommand.__args__},
    **{cls: event_decoder for cls in AnyEvent.__args__},
}


def decoder_of(cls: type) -> msgspec.json.Decoder:
    """The decoder codesift uses for `cls`: the one built once in shared.schemas, else one for it."""
    return BUILT_ONCE.get(cls) or msgspec.json.Decoder(cls)


def test_every_message_schema_is_covered():
    names = {cls.__name__ for cls in SCHEMAS}
    assert {"FeedbackEvent", "SearchRequest", "TrainCommand", "ModelEvaluated", "Impression"} <= names
    assert len(SCHEMAS) >= 30


@pytest.mark.parametrize("cls", SCHEMAS, ids=lambda cls: cls.__name__)
def test_decode_of_encode_is_the_message(cls: type):
    decoder = decoder_of(cls)

    @PROFILE
    @given(valid(cls))
    def round_trip(message) -> None:
        assert decoder.decode(encoder.encode(message)) == message

    round_trip()


@pytest.mark.parametrize("cls", SCHEMAS, ids=lambda cls: cls.__name__)
def test_hostile_bytes_raise_msgspec_errors_only(cls: type):
    decoder = decoder_of(cls)

    @PROFILE
    @given(hostile(cls))
    def refuse(payload: bytes) -> None:
        try:
            decoder.decode(payload)
        except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
            problem = problem_from(exc)  # and every one is told as a field and a message
            assert problem.field and problem.message
        # anything else raised fails the test; a payload that happens to be valid decodes

    refuse()


@given(st.binary(max_size=200))
@PROFILE
def test_the_shared_decode_names_a_field_or_the_body(payload: bytes):
    message, problem = decode(command_decoder, payload)
    assert (message is None) != (problem is None)
    if problem is not None:
        assert problem.field
