"""GET /api/search: validation before anything is sent, pass-through of the replica's answer, 503s."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from shared.schemas import Problem, SearchHit, SearchReply, SearchRequest, SearchResponse, encoder
from tests.conftest import NatsServer
from tests.unit.gateway.conftest import TIMEOUT, StandIns

RESPONSE = SearchResponse(
    query_id="q-7f3a",
    query="where is the token validated",
    reranker="none (fusion order)",
    results=[
        SearchHit(
            doc_id="acme:src/auth.py:10-24",
            repo="acme",
            path="src/auth.py",
            start_line=10,
            end_line=24,
            score=0.0327868852459016,
            snippet="def validate(token):\n    return check(token)\n",
            language="python",
        ),
        SearchHit(
            doc_id="acme:README.md:1-5",
            repo="acme",
            path="README.md",
            start_line=1,
            end_line=5,
            score=0.016129032258064516,
            snippet="# acme <script>alert(1)</script>",
            language="markdown",
        ),
    ],
)


async def test_passes_the_replica_response_through_unchanged(
    client: AsyncTestClient, stand_ins: StandIns
) -> None:
    replica = stand_ins.search_replica(encoder.encode(SearchReply(response=RESPONSE)))

    answer = await client.get("/api/search", params={"q": RESPONSE.query, "k": 2, "repo": "acme"})

    assert answer.status_code == 200
    assert answer.json() == msgspec.to_builtins(RESPONSE)
    assert replica.requests == [SearchRequest(query=RESPONSE.query, k=2, repo="acme")]


async def test_sends_the_default_k_and_no_repo(client: AsyncTestClient, stand_ins: StandIns) -> None:
    replica = stand_ins.search_replica(encoder.encode(SearchReply(response=RESPONSE)))

    answer = await client.get("/api/search", params={"q": "token"})

    assert answer.status_code == 200
    assert replica.requests == [SearchRequest(query="token", k=10, repo=None)]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "q"),
        ({"q": ""}, "q"),
        ({"q": "   \t "}, "q"),
        ({"q": "x" * 2001}, "q"),
        ({"q": "token", "k": "ten"}, "k"),
        ({"q": "token", "k": "2.5"}, "k"),
        ({"q": "token", "k": "0"}, "k"),
        ({"q": "token", "k": "101"}, "k"),
        ({"q": "token", "repo": "../etc"}, "repo"),
        ({"q": "token", "repo": "acme corp"}, "repo"),
        ({"q": "token", "repo": ""}, "repo"),
        ({"q": "token", "repo": ".."}, "repo"),
        ({"q": "token", "repo": "."}, "repo"),
        ({"q": "token", "repo": "a/b"}, "repo"),
        ({"q": "token", "repo": "acme\n"}, "repo"),
        ({"q": "token", "repo": "acme\x00"}, "repo"),
        ({"q": "token", "repo": "r" * 201}, "repo"),
    ],
)
async def test_rejects_invalid_parameters_before_sending_anything(
    client: AsyncTestClient, stand_ins: StandIns, params: dict[str, str], field: str
) -> None:
    replica = stand_ins.search_replica(encoder.encode(SearchReply(response=RESPONSE)))

    answer = await client.get("/api/search", params=params)

    assert answer.status_code == 400
    body = answer.json()
    assert body["status_code"] == 400
    assert body["field"] == field
    assert body["detail"].startswith(f"{field}: ")
    await asyncio.sleep(0.05)
    assert replica.requests == []


async def test_accepts_the_longest_query_and_the_limits_of_k(
    client: AsyncTestClient, stand_ins: StandIns
) -> None:
    replica = stand_ins.search_replica(encoder.encode(SearchReply(response=RESPONSE)))

    for params in ({"q": "x" * 2000}, {"q": "token", "k": 1}, {"q": "token", "k": 100, "repo": "a.b_c-1"}):
        assert (await client.get("/api/search", params=params)).status_code == 200
    assert [r.k for r in replica.requests] == [10, 1, 100]


@pytest.mark.parametrize(
    ("problem", "field"),
    [
        (Problem(field="repo", message="unknown repository 'nope'"), "repo"),
        (Problem("query", "too long"), "q"),
    ],
)
async def test_maps_a_replica_problem_to_400_naming_the_parameter(
    client: AsyncTestClient, stand_ins: StandIns, problem: Problem, field: str
) -> None:
    stand_ins.search_replica(encoder.encode(SearchReply(error=problem)))

    answer = await client.get("/api/search", params={"q": "token", "repo": "nope"})

    assert answer.status_code == 400
    assert answer.json() == {"status_code": 400, "detail": f"{field}: {problem.message}", "field": field}


async def test_503_when_no_replica_is_running(client: AsyncTestClient) -> None:
    answer = await client.get("/api/search", params={"q": "token"})

    assert answer.status_code == 503
    body = answer.json()
    assert body["field"] is None
    assert "no search replica" in body["detail"]
    assert "codesift up" in body["detail"]


async def test_503_when_no_replica_answers_in_time(client: AsyncTestClient, stand_ins: StandIns) -> None:
    replica = stand_ins.search_replica(answer=None)

    answer = await client.get("/api/search", params={"q": "token"})

    assert answer.status_code == 503
    assert f"no search replica answered within {TIMEOUT:g} s" in answer.json()["detail"]
    assert len(replica.requests) == 1


async def test_502_when_a_replica_answers_garbage(client: AsyncTestClient, stand_ins: StandIns) -> None:
    stand_ins.search_replica(b'{"response": {"query_id": 3}}')

    answer = await client.get("/api/search", params={"q": "token"})

    assert answer.status_code == 502
    assert answer.json()["detail"].startswith("a search replica answered something unreadable")


async def test_503_when_the_bus_is_down(client: AsyncTestClient, nats_server: NatsServer) -> None:
    nats_server.stop()
    search_client = client.app.state.search_client
    for _ in range(100):
        if not search_client.connected:
            break
        await asyncio.sleep(0.02)

    answer = await client.get("/api/search", params={"q": "token"})

    assert answer.status_code == 503
    assert "message bus" in answer.json()["detail"]
    assert "codesift up" in answer.json()["detail"]
