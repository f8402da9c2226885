"""The language-model answer through the official `openai` client, against a local HTTP server that
speaks the chat-completions protocol (tests/unit/gateway/mcp/chat_server.py). No model runs here:
the server answers what each test tells it to, so what is tested is the prompt codesift sends, how
it reads the answer and its citations, and every failure (HTTP 500, a timeout, nothing listening,
an answer that cites nothing it was given)."""

from __future__ import annotations

import socket
import time

import pytest

from services.gateway.mcp.llm import LlmConfig, LlmFailed, LlmWriter, build_messages, chunk_block, cited
from tests.unit.gateway.mcp.chat_server import chat_server
from tests.unit.gateway.mcp.hits import CLAIMS, PASSWORDS, TOKENS, file_lines

HITS = [TOKENS, PASSWORDS]
QUESTION = "where is the token signature checked"


def config(url: str, timeout: float = 5.0) -> LlmConfig:
    return LlmConfig(base_url=url, model="test-model", api_key="sk-test", timeout=timeout, max_tokens=300)


def test_the_prompt_holds_the_question_and_the_chunks_numbered_and_nothing_else():
    system, user = build_messages(QUESTION, HITS)
    assert system["role"] == "system" and "path:start-end" in system["content"]
    assert user["role"] == "user"
    assert user["content"] == f"Question: {QUESTION}\n\nCode chunks:\n\n" + "\n\n".join(
        chunk_block(h) for h in HITS
    )
    block = chunk_block(TOKENS)
    assert block.startswith("[acme/auth/tokens.py:40-57] (sample, python)\n40| def validate_access_token(")
    assert "\n57|     return Claims(" in block


def test_citations_are_kept_only_when_they_point_inside_a_chunk_given():
    text = (
        "The signature is compared in acme/auth/tokens.py:49-51 (see also acme/auth/tokens.py:50); "
        "acme/auth/tokens.py:1-5 was not given, nor acme/billing/invoices.py:1-3, "
        "and acme/auth/tokens.py:49-51 again is one citation."
    )
    citations = cited(text, HITS)
    assert [c["cite"] for c in citations] == ["acme/auth/tokens.py:49-51", "acme/auth/tokens.py:50-50"]
    assert all(c["doc_id"] == TOKENS["doc_id"] for c in citations)
    assert citations[0]["text"] == file_lines("acme/auth/tokens.py", 49, 51)


async def test_an_answer_is_read_with_its_citations_and_the_request_is_what_was_built():
    with chat_server() as server:
        server.reply = lambda body: "It is checked in acme/auth/tokens.py:49-51 with hmac.compare_digest."
        writer = LlmWriter(config(server.url))
        try:
            text, citations = await writer.write(QUESTION, HITS)
        finally:
            await writer.close()
    assert text == "It is checked in acme/auth/tokens.py:49-51 with hmac.compare_digest."
    assert [c["cite"] for c in citations] == ["acme/auth/tokens.py:49-51"]
    (body,) = server.requests
    assert body["model"] == "test-model" and body["max_tokens"] == 300 and body["temperature"] == 0
    assert body["messages"] == build_messages(QUESTION, HITS)
    assert server.headers[0]["authorization"] == "Bearer sk-test"


async def test_an_http_500_is_a_failure_that_says_so():
    with chat_server() as server:
        server.status = 500
        writer = LlmWriter(config(server.url))
        try:
            with pytest.raises(LlmFailed, match="HTTP 500"):
                await writer.write(QUESTION, HITS)
        finally:
            await writer.close()
    assert len(server.requests) == 1  # no retry: the agent is waiting


async def test_a_model_slower_than_the_timeout_is_a_failure_after_the_timeout():
    with chat_server() as server:
        server.delay = 2.0
        server.reply = lambda body: "too late: acme/auth/tokens.py:49-51"
        writer = LlmWriter(config(server.url, timeout=0.3))
        started = time.monotonic()
        try:
            with pytest.raises(LlmFailed, match=r"no answer within 0\.3 s"):
                await writer.write(QUESTION, HITS)
        finally:
            await writer.close()
        assert time.monotonic() - started < 1.5


async def test_nothing_listening_is_a_failure_that_says_unreachable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    writer = LlmWriter(config(f"http://127.0.0.1:{port}/v1"))
    try:
        with pytest.raises(LlmFailed, match="unreachable"):
            await writer.write(QUESTION, HITS)
    finally:
        await writer.close()


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("", "an empty answer"),
        ("The tokens module checks it.", "citing none"),
        ("See acme/x.py:1-2 and acme/auth/tokens.py:1-3.", "citing none"),  # neither was given
    ],
)
async def test_an_answer_without_a_citation_of_the_chunks_is_a_failure(reply, reason):
    with chat_server() as server:
        server.reply = lambda body: reply
        writer = LlmWriter(config(server.url))
        try:
            with pytest.raises(LlmFailed, match=reason):
                await writer.write(QUESTION, [*HITS, CLAIMS])
        finally:
            await writer.close()
