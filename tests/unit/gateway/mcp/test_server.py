"""The MCP server driven by the SDK's own client (in process), over a real nats-server and JetStream.

Tools list with their schemas, results as the replica ranked them, bad arguments as tool errors that
name the argument (the server keeps serving), feedback stored once in the FEEDBACK stream with
source `mcp`, and the resources.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, get_type_hints

import msgspec
import pytest
from mcp import Client

from services.gateway.mcp import results
from services.gateway.mcp.llm import LlmConfig, LlmWriter
from services.gateway.mcp.server import MODEL_URI, REPOSITORIES_URI, build_server
from services.gateway.mcp.tools import Backend, CodesiftTools
from shared import schemas, subjects
from shared.schemas import Impression, ShownResult, encoder, feedback_decoder
from tests.unit.gateway.mcp.chat_server import chat_server
from tests.unit.gateway.mcp.conftest import HITS, StandInReplica, make_backend
from tests.unit.gateway.mcp.hits import file_lines


@pytest.fixture
def tools(backend: Backend, replica: StandInReplica) -> CodesiftTools:
    return CodesiftTools(backend)


def connect(tools: CodesiftTools) -> Client:
    """The SDK's client on the server in process (entered in the test: its task group is the test's)."""
    return Client(build_server(tools))


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert json.loads(result.content[0].text) == result.structured_content  # the same object as text
    return result.structured_content


async def error(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    return result.content[0].text


async def stored_feedback(backend: Backend) -> list[schemas.FeedbackEvent]:
    state = (await backend.js.stream_info("FEEDBACK")).state
    if not state.messages:
        return []
    messages = [await backend.js.get_msg("FEEDBACK", n) for n in range(state.first_seq, state.last_seq + 1)]
    return [feedback_decoder.decode(m.data or b"") for m in messages]


def test_the_output_shapes_mirror_the_search_response_field_for_field():
    assert get_type_hints(results.SearchHit).keys() == {
        f.name for f in msgspec.structs.fields(schemas.SearchHit)
    }
    response_fields = {f.name for f in msgspec.structs.fields(schemas.SearchResponse)}
    assert get_type_hints(results.SearchResult).keys() == response_fields


async def test_the_tools_are_listed_with_schemas_an_agent_can_act_on(tools: CodesiftTools):
    async with connect(tools) as mcp:
        tools = {tool.name: tool for tool in (await mcp.list_tools()).tools}
        assert set(tools) == {"rag_search", "rag_answer", "rag_feedback"}
        search = tools["rag_search"].input_schema
        assert search["required"] == ["query"]
        assert search["properties"]["k"].items() >= {"minimum": 1, "maximum": 100, "default": 10}.items()
        assert search["properties"]["query"]["maxLength"] == 2000
        assert tools["rag_answer"].input_schema["required"] == ["question"]
        feedback = tools["rag_feedback"].input_schema
        assert feedback["required"] == ["query_id", "doc_id", "rating"]
        assert feedback["properties"]["rating"].items() >= {"minimum": 1, "maximum": 5}.items()
        for tool in tools.values():
            assert len(tool.description or "") > 200 and tool.output_schema is not None
            assert all(p.get("description") for p in tool.input_schema["properties"].values())
        assert "doc_id" in json.dumps(tools["rag_search"].output_schema)
        assert tools["rag_search"].annotations.read_only_hint is True


async def test_search_answers_what_the_replica_ranked_unchanged(
    tools: CodesiftTools, replica: StandInReplica
):
    async with connect(tools) as mcp:
        found = await call(mcp, "rag_search", query="where is the token validated", k=2, repo="sample")
        assert replica.requests[-1] == schemas.SearchRequest(
            query="where is the token validated", k=2, repo="sample"
        )
        assert found == msgspec.to_builtins(replica.responses[-1])
        assert [h["doc_id"] for h in found["results"]] == [h.doc_id for h in HITS[:2]]


@pytest.mark.parametrize(
    ("arguments", "argument"),
    [
        ({"query": ""}, "query"),
        ({"query": "   "}, "query"),
        ({}, "query"),
        ({"query": "x", "k": 0}, "k"),
        ({"query": "x", "k": 101}, "k"),
        ({"query": "x", "k": "many"}, "k"),
        ({"query": "x", "repo": "not a name!"}, "repo"),
        ({"query": "x", "repo": "unknown"}, "repo"),  # refused by the replica, named as the tool's argument
    ],
)
async def test_bad_search_arguments_are_tool_errors_naming_the_argument(
    tools: CodesiftTools, arguments, argument
):
    async with connect(tools) as mcp:
        text = await error(mcp, "rag_search", **arguments)
        assert text.startswith(f"{argument}: "), text
        assert (await call(mcp, "rag_search", query="token"))["results"]  # and the server keeps serving


async def test_a_bad_question_names_question(tools: CodesiftTools):
    async with connect(tools) as mcp:
        assert (await error(mcp, "rag_answer", question=" ")).startswith("question: ")
        assert (await error(mcp, "rag_answer", question="token", repo="unknown")).startswith("repo: ")
        assert (await error(mcp, "rag_answer", question="token", k=21)).startswith("k: ")


async def test_without_a_language_model_the_answer_is_extractive_and_cited(tools: CodesiftTools):
    async with connect(tools) as mcp:
        answer = await call(mcp, "rag_answer", question="where is the token signature compared", k=3)
        assert answer["mode"] == "extractive" and answer["model"] is None
        assert "CODESIFT_LLM_BASE_URL" in answer["note"]
        assert answer["citations"]
        shown = {h.doc_id for h in HITS[:3]}
        for citation in answer["citations"]:
            assert citation["doc_id"] in shown
            assert citation["text"] == file_lines(
                citation["path"], citation["start_line"], citation["end_line"]
            )
            assert citation["cite"] in answer["answer"]


async def test_feedback_is_stored_once_with_source_mcp_and_what_the_search_showed(
    tools: CodesiftTools, backend: Backend
):
    async with connect(tools) as mcp:
        found = await call(mcp, "rag_search", query="where is the password hashed", k=3)
        second = found["results"][1]
        args = {"query_id": found["query_id"], "doc_id": second["doc_id"], "rating": 5, "note": "used it"}
        accepted = await call(mcp, "rag_feedback", **args)
        assert (
            accepted["status"] == "accepted" and accepted["duplicate"] is False and accepted["position"] == 2
        )
        again = await call(mcp, "rag_feedback", **args)  # an agent retrying
        assert again["event_id"] == accepted["event_id"] and again["duplicate"] is True
        (event,) = await stored_feedback(backend)
        assert event.event_id == accepted["event_id"]
        assert (event.source, event.query, event.query_id) == (
            "mcp",
            "where is the password hashed",
            found["query_id"],
        )
        assert (event.doc_id, event.rating, event.position, event.repo) == (second["doc_id"], 5, 2, "sample")
        assert event.note == "used it" and event.client_ip is None

        rejected = await call(
            mcp, "rag_feedback", **(args | {"rating": 1})
        )  # a change of mind is new feedback
        assert rejected["event_id"] != accepted["event_id"]
        assert [e.rating for e in await stored_feedback(backend)] == [5, 1]


async def test_feedback_on_a_search_another_process_answered_is_checked_against_its_impression(
    tools: CodesiftTools, backend: Backend
):
    async with connect(tools) as mcp:
        query_id = "a" * 32
        impression = Impression(
            query_id=query_id,
            query="bearer token check",
            repo=None,
            k=2,
            results=[
                ShownResult(1, "x.py:1-9", "other", "x.py", 0.9),
                ShownResult(2, "y.py:3-7", "sample", "y.py", 0.5),
            ],
            reranker="none (fusion order)",
            model_version=None,
            index_version="index-1",
            replica_id="search-2",
            timestamp=1_790_000_000.0,
        )
        await backend.js.publish(subjects.impression_subject(query_id), encoder.encode(impression))
        accepted = await call(mcp, "rag_feedback", query_id=query_id, doc_id="y.py:3-7", rating=1)
        assert accepted["position"] == 2
        (event,) = await stored_feedback(backend)
        assert (event.query, event.repo, event.rating) == ("bearer token check", "sample", 1)


@pytest.mark.parametrize(
    ("arguments", "argument"),
    [
        ({"query_id": "b" * 32}, "query_id"),  # no search has it
        ({"query_id": "not-a-query-id"}, "query_id"),
        ({"doc_id": "acme/nowhere.py:1-2"}, "doc_id"),  # not among the search's results
        ({"doc_id": ""}, "doc_id"),
        ({"rating": 0}, "rating"),
        ({"rating": 6}, "rating"),
        ({"note": "x" * 2001}, "note"),
    ],
)
async def test_bad_feedback_is_a_tool_error_naming_the_argument_and_nothing_is_stored(
    tools: CodesiftTools, backend: Backend, arguments, argument
):
    async with connect(tools) as mcp:
        found = await call(mcp, "rag_search", query="token")
        good = {"query_id": found["query_id"], "doc_id": found["results"][0]["doc_id"], "rating": 5}
        text = await error(mcp, "rag_feedback", **(good | arguments))
        assert text.startswith(f"{argument}: "), text
        assert await stored_feedback(backend) == []
        await call(mcp, "rag_feedback", **good)
        assert len(await stored_feedback(backend)) == 1


async def test_the_resources_list_the_repositories_and_the_production_model(tools: CodesiftTools):
    async with connect(tools) as mcp:
        uris = {str(r.uri) for r in (await mcp.list_resources()).resources}
        assert uris == {REPOSITORIES_URI, MODEL_URI}
        repositories = json.loads((await mcp.read_resource(REPOSITORIES_URI)).contents[0].text)
        assert repositories == {
            "index_version": "index-1",
            "chunks": 72,
            "repositories": [{"name": "sample", "chunks": 72}],
        }
        model = json.loads((await mcp.read_resource(MODEL_URI)).contents[0].text)
        assert model["reranker"] == "none (fusion order)" and model["production"] is None
        assert [r["replica_id"] for r in model["replicas"]] == ["search-1"]


async def test_with_no_replica_running_a_search_is_a_tool_error_saying_how_to_start_one(backend: Backend):
    async with connect(CodesiftTools(backend)) as mcp:
        text = await error(mcp, "rag_search", query="token")
    assert "no search replica is running" in text and "codesift up" in text


# ------------------------------------------------------------ rag_answer with a language model
# A local HTTP server speaking the chat-completions protocol stands in for the endpoint: no model runs.


@pytest.fixture
async def llm(nc, nats_server, tmp_path, replica) -> AsyncIterator[tuple[CodesiftTools, Any]]:
    with chat_server() as server:
        writer = LlmWriter(LlmConfig(base_url=server.url, model="local-model", timeout=0.5))
        yield CodesiftTools(make_backend(nc, nats_server.url, tmp_path, writer)), server
        await writer.close()


async def test_a_language_model_writes_the_answer_from_the_cited_chunks(llm):
    tools, server = llm
    server.reply = lambda body: "hmac.compare_digest checks it: acme/auth/tokens.py:49-51."
    async with connect(tools) as mcp:
        answer = await call(mcp, "rag_answer", question="where is the signature checked", k=2)
    assert (answer["mode"], answer["model"]) == ("llm", "local-model")
    assert answer["answer"] == "hmac.compare_digest checks it: acme/auth/tokens.py:49-51."
    assert [c["cite"] for c in answer["citations"]] == ["acme/auth/tokens.py:49-51"]
    user = server.requests[0]["messages"][1]["content"]
    assert "[acme/auth/tokens.py:40-57]" in user and "[acme/auth/passwords.py:11-24]" in user
    assert "[acme/auth/tokens.py:19-33]" not in user  # only the k chunks found


@pytest.mark.parametrize(
    ("status", "delay", "reason"),
    [(500, 0.0, "HTTP 500: the model crashed"), (200, 2.0, "no answer within 0.5 s")],
)
async def test_when_the_language_model_fails_the_answer_is_extractive_and_says_why(
    llm, status, delay, reason
):
    tools, server = llm
    server.status, server.delay = status, delay
    server.reply = lambda body: "acme/auth/tokens.py:49-51"
    async with connect(tools) as mcp:
        answer = await call(mcp, "rag_answer", question="where is the token signature compared", k=3)
    assert answer["mode"] == "extractive" and answer["citations"]
    assert f"local-model at {server.url} failed ({reason}" in answer["note"]
    assert "extractive answer instead" in answer["note"]
