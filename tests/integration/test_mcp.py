"""The MCP server on a real stack (real nats-server, 2 replicas, the fixture repository indexed), driven
by the SDK's own ClientSession over stdio (`codesift mcp` launched as an editor launches it) and over
streamable HTTP at the gateway's /mcp, plus `codesift mcp --http PORT` on a port of its own."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from tests.integration.stack import ROOT, Stack, codesift, free_port

FIXTURE_REPO = ROOT / "tests" / "fixtures" / "sample_repo"
TRANSPORTS = ["stdio", "http"]
QUESTIONS = ["where is the password hashed", "how are bearer tokens validated", "invoice total with tax"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):
    s = Stack(tmp_path_factory.mktemp("mcp") / "data", replicas=2)
    try:
        s.wait_ready()
        done = codesift("index", str(FIXTURE_REPO), "--name", "sample", data_dir=s.data_dir)
        assert done.returncode == 0, done.stdout + done.stderr
        s.wait_replicas(2)
        yield s
    finally:
        code = s.stop()
        assert code == 0, s.output()[-3000:]


def codesift_mcp(data_dir: Path, *args: str) -> list[str]:
    """argv of `codesift mcp` as an MCP client's config names it."""
    return [sys.executable, "-m", "codesift.cli", "mcp", "--data-dir", str(data_dir), *args]


@asynccontextmanager
async def session(stack: Stack, transport: str) -> AsyncIterator[ClientSession]:
    if transport == "stdio":
        command, *args = codesift_mcp(stack.data_dir)
        opened = stdio_client(StdioServerParameters(command=command, args=args, cwd=ROOT))
    else:
        opened = streamable_http_client(stack.url + "/mcp")
    async with opened as (read, write), ClientSession(read, write) as client:
        await client.initialize()
        yield client


async def call(client: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def api_search(stack: Stack, q: str, k: int) -> dict[str, Any]:
    status, body = stack.get("/api/search?" + urllib.parse.urlencode({"q": q, "k": k}))
    assert status == 200, body
    return body


def log_lines(stack: Stack) -> list[dict[str, Any]]:
    path = stack.data_dir / "logs" / "queries.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def wait_logged(stack: Stack, event_id: str, timeout: float = 30) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = log_lines(stack)
        if any(line["event_id"] == event_id for line in lines):
            return lines
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{event_id} never reached queries.jsonl:\n{stack.output()[-3000:]}")


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_the_tools_are_listed_with_their_schemas(stack: Stack, transport: str):
    async with session(stack, transport) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {"rag_search", "rag_answer", "rag_feedback"}
    assert tools["rag_search"].input_schema["required"] == ["query"]
    assert tools["rag_answer"].input_schema["required"] == ["question"]
    assert tools["rag_feedback"].input_schema["required"] == ["query_id", "doc_id", "rating"]
    assert all(tool.output_schema and tool.description for tool in tools.values())


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_search_ranks_exactly_as_the_http_api(stack: Stack, transport: str):
    async with session(stack, transport) as client:
        for k, question in enumerate(QUESTIONS, 3):
            found = await call(client, "rag_search", query=question, k=k)
            expected = api_search(stack, question, k)
            assert set(found) == set(expected) and found["query_id"] != expected["query_id"]
            assert found["results"] == expected["results"]  # same chunks, order, scores and snippets
            assert found["results"] and found["reranker"] == expected["reranker"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_answer_cites_real_lines_of_the_chunks_found(stack: Stack, transport: str):
    async with session(stack, transport) as client:
        for question in QUESTIONS:
            answer = await call(client, "rag_answer", question=question, k=4)
            top = {h["doc_id"]: h for h in api_search(stack, question, 4)["results"]}
            assert answer["mode"] == "extractive" and answer["citations"]
            for c in answer["citations"]:
                chunk = top[c["doc_id"]]  # one of the chunks the same search finds
                assert chunk["start_line"] <= c["start_line"] <= c["end_line"] <= chunk["end_line"]
                source = (FIXTURE_REPO / c["path"]).read_text().splitlines()
                assert c["text"] == "\n".join(source[c["start_line"] - 1 : c["end_line"]])
                assert (
                    c["cite"] == f"{c['path']}:{c['start_line']}-{c['end_line']}"
                    and c["cite"] in answer["answer"]
                )


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_feedback_lands_in_the_log_exactly_once_joined_to_its_impression(stack: Stack, transport: str):
    async with session(stack, transport) as client:
        found = await call(client, "rag_search", query=f"password hashing iterations ({transport})", k=4)
        used = found["results"][1]
        args = {
            "query_id": found["query_id"],
            "doc_id": used["doc_id"],
            "rating": 5,
            "note": f"via {transport}",
        }
        first = await call(client, "rag_feedback", **args)
        second = await call(client, "rag_feedback", **args)  # the agent retrying
        assert second["event_id"] == first["event_id"] and second["duplicate"] is True
        answer = await call(client, "rag_answer", question="how is a token's signature checked")
        later = await call(
            client,
            "rag_feedback",
            query_id=answer["query_id"],
            doc_id=answer["citations"][0]["doc_id"],
            rating=1,
        )
    lines = await wait_logged(stack, later["event_id"])  # logged after the first: the log has caught up
    mine = [line for line in lines if line["event_id"] == first["event_id"]]
    assert len(mine) == 1, mine
    (line,) = mine
    assert (line["source"], line["rating"], line["doc_id"], line["position"]) == ("mcp", 5, used["doc_id"], 2)
    assert (
        line["query"] == f"password hashing iterations ({transport})"
        and line["query_id"] == found["query_id"]
    )
    assert line["note"] == f"via {transport}" and line["repo"] == "sample"
    assert line["joined"] is True
    assert [r["doc_id"] for r in line["impression"]["results"]] == [r["doc_id"] for r in found["results"]]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_bad_arguments_are_tool_errors_naming_the_argument_and_the_server_keeps_serving(
    stack: Stack, transport: str
):
    bad = [
        ("rag_search", {"query": "  "}, "query"),
        ("rag_search", {"query": "token", "k": 0}, "k"),
        ("rag_search", {"query": "token", "k": 101}, "k"),
        ("rag_search", {"query": "token", "repo": "nope"}, "repo"),
        ("rag_answer", {"question": ""}, "question"),
        ("rag_feedback", {"query_id": "0" * 32, "doc_id": "acme/cli.py:1-9", "rating": 5}, "query_id"),
        ("rag_feedback", {"query_id": "0" * 32, "doc_id": "acme/cli.py:1-9", "rating": 7}, "rating"),
    ]
    async with session(stack, transport) as client:
        for tool, arguments, argument in bad:
            result = await client.call_tool(tool, arguments)
            assert result.is_error, (tool, arguments)
            assert result.content[0].text.startswith(f"{argument}: "), result.content[0].text
        assert (await call(client, "rag_search", query="token"))["results"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_the_resources_are_the_repositories_and_the_production_model(stack: Stack, transport: str):
    async with session(stack, transport) as client:
        uris = {str(r.uri) for r in (await client.list_resources()).resources}
        repositories = json.loads((await client.read_resource("codesift://repositories")).contents[0].text)
        model = json.loads((await client.read_resource("codesift://model")).contents[0].text)
    assert uris == {"codesift://repositories", "codesift://model"}
    health = stack.health()
    assert repositories["index_version"] == health["index"]["version"]
    assert repositories["repositories"] == [{"name": "sample", "chunks": health["index"]["repos"]["sample"]}]
    assert model["reranker"] == "none (fusion order)" and len(model["replicas"]) == 2


def test_over_stdio_nothing_but_protocol_reaches_stdout(stack: Stack):
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": HANDSHAKE_PROTOCOL_VERSIONS[-1],
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "rag_search", "arguments": {"query": "x"}},
        },
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "rag_search", "arguments": {"k": 0}},
        },
    ]
    env = {k: v for k, v in os.environ.items() if k != "CODESIFT_NATS_URL"}
    process = subprocess.Popen(
        codesift_mcp(stack.data_dir), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, cwd=ROOT, env=env,
    )  # fmt: skip
    watchdog = threading.Timer(60, process.kill)
    watchdog.start()
    try:
        assert process.stdin and process.stdout
        process.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
        process.stdin.flush()
        lines = [process.stdout.readline() for _ in range(3)]  # one line per request
        process.stdin.close()  # the end of the session: the server exits
        lines += process.stdout.read().splitlines()
        stderr = process.stderr.read() if process.stderr else ""
        assert process.wait() == 0, stderr
    finally:
        watchdog.cancel()
    replies = [json.loads(line) for line in lines if line.strip()]  # every line is JSON-RPC
    replies.sort(key=lambda r: r.get("id", 0))  # requests are served concurrently
    assert [r.get("id") for r in replies] == [1, 2, 3] and all(r["jsonrpc"] == "2.0" for r in replies)
    assert "result" in replies[1] and "result" in replies[2], replies
    assert replies[1]["result"]["structuredContent"]["results"]
    assert replies[2]["result"]["isError"] is True
    assert "codesift MCP server on stdio" in stderr  # the logs went to stderr


async def test_codesift_mcp_http_serves_on_a_port_of_its_own(stack: Stack):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "CODESIFT_NATS_URL"}
    process = subprocess.Popen(
        codesift_mcp(stack.data_dir, "--http", str(port)),
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        deadline = time.monotonic() + 60
        while True:
            try:
                async with streamable_http_client(url) as (read, write), ClientSession(read, write) as client:
                    await client.initialize()
                    found = await call(client, "rag_search", query="where is the password hashed", k=3)
                break
            except Exception:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)
        assert found["results"] == api_search(stack, "where is the password hashed", 3)["results"]
    finally:
        process.terminate()
        process.wait(timeout=20)
