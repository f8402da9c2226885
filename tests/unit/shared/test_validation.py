import msgspec
import pytest

from shared.schemas import IndexCommand, Problem, SearchRequest, command_decoder
from shared.validation import decode

search_decoder = msgspec.json.Decoder(SearchRequest)


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (b'{"query": "x", "k": 0}', "k", ">= 1"),
        (b'{"query": "x", "k": 101}', "k", "<= 100"),
        (b'{"query": "x", "k": "ten"}', "k", "Expected `int`"),
        (b'{"query": ""}', "query", "length >= 1"),
        (b'{"k": 3}', "query", "missing required field"),
        (b'{"query": "x", "repo": "a b"}', "repo", "matching regex"),
        (b'{"query": "x", "extra": 1}', "extra", "unknown field"),
        (b"not json", "body", "malformed"),
    ],
)
def test_decode_names_the_field(body, field, words):
    value, problem = decode(search_decoder, body)
    assert value is None
    assert problem.field == field
    assert words in problem.message
    assert "$." not in problem.message


def test_decode_valid_request():
    value, problem = decode(search_decoder, b'{"query": "where is auth", "k": 5, "repo": "web-app"}')
    assert problem is None
    assert value == SearchRequest(query="where is auth", k=5, repo="web-app")


def test_command_union_decodes_by_tag():
    cmd = command_decoder.decode(b'{"type": "index", "job_id": "j1", "path": "/src", "name": "r"}')
    assert isinstance(cmd, IndexCommand)
    _, problem = decode(command_decoder, b'{"type": "nope", "job_id": "j1"}')
    assert problem is not None and problem.field == "type"


def test_json_nested_too_deep_is_a_problem_not_a_crash():
    """A tagged union skips the other fields while it looks for the tag, recursively."""
    _, problem = decode(command_decoder, b'{"query": ' + b"[" * 100_000)
    assert problem == Problem(field="body", message="JSON nested too deep")


def test_a_pattern_checked_name_ending_in_a_newline_is_refused():
    """Python's `$` matches before a final newline: the pattern alone lets "web-app\\n" through."""
    _, problem = decode(search_decoder, b'{"query": "q", "repo": "web-app\\n"}')
    assert problem is not None and problem.field == "repo" and "newline" in problem.message
    _, problem = decode(command_decoder, b'{"type": "index", "job_id": "j1\\n", "path": "/src", "name": "r"}')
    assert problem is not None and problem.field == "job_id"
