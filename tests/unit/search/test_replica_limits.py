"""A replica enforces the request limits itself: clients on the bus do not pass through the gateway."""

from __future__ import annotations

import json

import msgspec
import nats
import pytest

from services.search.handlers import replica_router
from services.search.replica import Replica
from services.search.settings import SearchSettings
from shared import subjects
from shared.schemas import CandidatesReply, DocumentsReply, SearchReply
from shared.service import make_broker


@pytest.fixture
def replica() -> Replica:
    # No embedder and no index: a refused request must be answered before either is needed.
    return Replica(SearchSettings(replica_id="r1", metrics=False), embedder=None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("request_body", "field", "message"),
    [
        ({"query": "x" * 2001}, "query", "Expected `str` of length <= 2000"),
        ({"query": "   \t"}, "query", "must contain more than white space"),
        ({"query": ""}, "query", "Expected `str` of length >= 1"),
        ({"query": "token", "k": 101}, "k", "Expected `int` <= 100"),
        ({"query": "token", "k": 0}, "k", "Expected `int` >= 1"),
        ({"query": "token", "k": 10**30}, "k", ""),
        ({"query": "token", "repo": ".."}, "repo", "Expected `str` matching regex"),
        ({"query": "token", "repo": "a/b"}, "repo", "Expected `str` matching regex"),
        ({"query": "token", "repo": "demo\n"}, "repo", "ends with a newline"),
        ({"query": "token", "repo": "r" * 201}, "repo", "Expected `str` of length <= 200"),
        ({"query": "token", "extra": 1}, "extra", "Object contains unknown field `extra`"),
    ],
)
def test_a_search_over_the_limits_is_refused_naming_the_field(replica, request_body, field, message):
    reply, impression = replica.search(json.dumps(request_body).encode())
    decoded = msgspec.json.decode(reply, type=SearchReply)
    assert impression is None and decoded.response is None
    assert decoded.error is not None and decoded.error.field == field
    assert decoded.error.message.startswith(message)


def test_candidates_past_their_limits_are_refused(replica):
    for body, field in [
        ({"query": "q", "k": 501}, "k"),
        ({"query": " "}, "query"),
        ({"query": "q" * 2001}, "query"),
    ]:
        reply = msgspec.json.decode(replica.candidates(json.dumps(body).encode()), type=CandidatesReply)
        assert reply.error is not None and reply.error.field == field


def test_documents_past_their_limits_are_refused(replica):
    for body, field in [
        ({"repo": "demo", "limit": 5001}, "limit"),
        ({"repo": "demo", "doc_ids": ["a.py:1-2"] * 5001}, "doc_ids"),
        ({"repo": "demo", "offset": -1}, "offset"),
        ({"repo": "../x"}, "repo"),
    ]:
        reply = msgspec.json.decode(replica.documents(json.dumps(body).encode()), type=DocumentsReply)
        assert reply.error is not None and reply.error.field == field


async def test_over_the_bus_a_replica_refuses_what_the_gateway_would(nats_server):
    """A client publishing on codesift.search.query directly gets the same refusals, naming the field."""
    settings = SearchSettings(replica_id="r1", metrics=False, nats_url=nats_server.url)
    broker = make_broker(settings)
    broker.include_router(replica_router)
    broker.context.set_global("replica", Replica(settings, embedder=None))  # type: ignore[arg-type]
    broker.context.set_global("js", None)
    await broker.start()
    nc = await nats.connect(nats_server.url)
    try:
        for body, field in [
            ({"query": "x" * 2001}, "query"),
            ({"query": "token", "k": 1000}, "k"),
            ({"query": "token", "repo": "../../etc"}, "repo"),
            ({"query": "token", "repo": "demo\n"}, "repo"),
        ]:
            answer = await nc.request(subjects.SEARCH_QUERY, json.dumps(body).encode(), timeout=5)
            reply = msgspec.json.decode(answer.data, type=SearchReply)
            assert reply.error is not None and reply.error.field == field
    finally:
        await nc.close()
        await broker.stop()
