import json

import pytest

from services.telemetry.log_line import build_line, line_decoder, received_timestamp
from shared.schemas import Impression, ShownResult, feedback_decoder

ORIGINAL_KEYS = ["event_id", "query", "doc_id", "rating", "source", "timestamp"]
QUERY_ID = "0123456789abcdef0123456789abcdef"


def impression() -> Impression:
    return Impression(
        query_id=QUERY_ID,
        query="where is the token validated",
        repo="demo",
        k=10,
        results=[
            ShownResult(1, "auth.py:10-40", "demo", "auth.py", 0.9),
            ShownResult(2, "jwt.py:1-30", "demo", "jwt.py", 0.5),
        ],
        reranker="none (fusion order)",
        model_version=None,
        index_version="idx-1",
        replica_id="search-1",
        timestamp=1_790_000_000.5,
    )


def line_for(body: dict, shown: Impression | None = None) -> tuple[bytes, dict]:
    raw = json.dumps(body).encode()
    text = build_line(feedback_decoder.decode(raw), received_timestamp(raw), shown)
    return text, json.loads(text)


@pytest.mark.parametrize(
    "timestamp", ["2026-11-25T12:00:00.250+01:00", "2026-11-25T12:00:00Z", 1_790_000_000]
)
def test_the_original_six_keys_come_first_with_their_values_and_the_timestamp_as_received(timestamp):
    body = {
        "event_id": "ev-1",
        "query": "where is the token validated",
        "doc_id": "auth.py:10-40",
        "rating": 5,
        "source": "click",
        "timestamp": timestamp,
    }
    text, line = line_for(body)
    assert list(line)[:6] == ORIGINAL_KEYS
    assert {k: line[k] for k in ORIGINAL_KEYS} == body  # an original reader sees what was sent
    assert type(line["timestamp"]) is type(timestamp)
    assert text.endswith(b"\n") and text.count(b"\n") == 1
    assert line["impression"] is None and line["joined"] is False
    assert set(line) == {*ORIGINAL_KEYS, "impression", "joined"}  # nothing absent is made up


def test_a_joined_line_carries_the_links_then_what_was_shown():
    body = {
        "event_id": "ev-2",
        "query": "where is the token validated",
        "doc_id": "jwt.py:1-30",
        "rating": 1,
        "source": "thumbs_down",
        "timestamp": 1_790_000_001.25,
        "query_id": QUERY_ID,
        "position": 2,
        "repo": "demo",
    }
    _, line = line_for(body, impression())
    assert list(line) == [*ORIGINAL_KEYS, "query_id", "position", "repo", "impression", "joined"]
    assert line["joined"] is True
    assert line["impression"] == {
        "results": [{"position": 1, "doc_id": "auth.py:10-40"}, {"position": 2, "doc_id": "jwt.py:1-30"}],
        "reranker": "none (fusion order)",
        "model_version": None,
        "index_version": "idx-1",
        "timestamp": 1_790_000_000.5,
    }


def test_notes_and_client_details_are_written_only_when_the_event_has_them():
    note = {
        "event_id": "ev-3",
        "query": "oauth refresh",
        "doc_id": "",
        "rating": 1,
        "source": "note",
        "timestamp": 1_790_000_002,
        "note": "the refresh handler was missing",
    }
    _, line = line_for(note)
    assert line["note"] == "the refresh handler was missing"
    assert "client_ip" not in line and "user_agent" not in line

    _, stored = line_for(note | {"client_ip": "10.0.0.7", "user_agent": "curl/8"})
    assert (stored["client_ip"], stored["user_agent"]) == ("10.0.0.7", "curl/8")
    assert list(stored)[-4:] == ["client_ip", "user_agent", "impression", "joined"]


def test_a_line_reads_back_with_the_line_decoder():
    body = {
        "event_id": "ev-4",
        "query": "q",
        "doc_id": "a.py:1-2",
        "rating": 5,
        "source": "thumbs_up",
        "timestamp": "2026-11-25T12:00:00Z",
        "query_id": QUERY_ID,
    }
    text, _ = line_for(body, impression())
    decoded = line_decoder.decode(text)
    assert decoded.event_id == "ev-4" and decoded.joined
    assert bytes(decoded.timestamp) == b'"2026-11-25T12:00:00Z"'
    assert decoded.impression is not None and decoded.impression.results[1].doc_id == "jwt.py:1-30"


def stamped() -> Impression:
    shown = impression()
    shown.results[1] = ShownResult(
        2,
        "jwt.py:1-30",
        "demo",
        "jwt.py",
        0.5,
        content_hash="ab" * 20,
        symbol="Jwt.check",
        fingerprint="0" * 16,
    )
    return shown


def test_a_joined_line_carries_the_rated_chunk_s_hash_symbol_and_fingerprint_from_its_impression():
    body = {
        "event_id": "ev-5",
        "query": "q",
        "doc_id": "jwt.py:1-30",
        "rating": 5,
        "source": "click",
        "timestamp": 1_790_000_001,
        "query_id": QUERY_ID,
        "repo": "demo",
    }
    text, line = line_for(body, stamped())
    assert (line["content_hash"], line["symbol"], line["fingerprint"]) == ("ab" * 20, "Jwt.check", "0" * 16)
    assert list(line)[-5:] == ["content_hash", "symbol", "fingerprint", "impression", "joined"]
    assert line["impression"]["results"][1] == {
        "position": 2,
        "doc_id": "jwt.py:1-30",
        "content_hash": "ab" * 20,
        "symbol": "Jwt.check",
        "fingerprint": "0" * 16,
    }
    assert line_decoder.decode(text).symbol == "Jwt.check"
    # another repository's result of the same doc_id, or a doc the search did not show: nothing copied
    for other in ({"repo": "elsewhere"}, {"doc_id": "other.py:1-2"}):
        _, line = line_for(body | other, stamped())
        assert "content_hash" not in line and "symbol" not in line and "fingerprint" not in line


def test_a_line_written_before_the_anchors_existed_still_reads():
    old = (
        b'{"event_id":"e","query":"q","doc_id":"a.py:1-2","rating":5,"source":"click","timestamp":1.0,'
        b'"impression":{"results":[{"position":1,"doc_id":"a.py:1-2"}],"reranker":"none",'
        b'"model_version":null,"index_version":null,"timestamp":1.0},"joined":true}'
    )
    decoded = line_decoder.decode(old)
    assert decoded.content_hash == "" and decoded.impression.results[0].fingerprint == ""
