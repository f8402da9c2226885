"""The MCP server: codesift's tools and resources on the official `mcp` SDK's MCPServer.

Errors: an argument the schema refuses, and every GatewayError (an unknown repository, a search
that is not found, the bus being down), answer a tool error (`isError: true`) whose text starts
with the argument at fault (`k: Input should be less than or equal to 100`); the server keeps
serving. Both are mapped here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Awaitable
from importlib.metadata import version
from typing import Annotated, Any

import msgspec
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError, UnexpectedToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field, ValidationError

from services.gateway.errors import GatewayError
from services.gateway.limits import limits
from services.gateway.mcp.results import Answer, FeedbackResult, SearchResult
from services.gateway.mcp.tools import CodesiftTools
from shared.schemas import DocId, Note, Query, Rating, RepoName, TopK

REPOSITORIES_URI = "codesift://repositories"
MODEL_URI = "codesift://model"

INSTRUCTIONS = (
    "codesift searches the code indexed in this codesift stack and learns from feedback. Use "
    "rag_search to find code (natural-language questions or identifiers), rag_answer for an answer "
    "citing path:start-end, and rag_feedback to say which result you used (rating 5) or rejected "
    "(rating 1): that trains its ranker. The repositories indexed are the resource "
    f"{REPOSITORIES_URI}; the production ranking model is {MODEL_URI}."
)

SEARCH_DESCRIPTION = """Search the indexed code with a question in words or identifiers
("where is the session token validated", "parseHTTPResponse"). Returns the best-ranked code chunks,
exactly as codesift's /api/search ranks them (BM25 over code-aware tokens and MiniLM vectors, fused,
then the promoted learned ranker): {"query_id", "query", "reranker", "results": [{"doc_id"
("path:start-end"), "repo", "path", "start_line", "end_line", "score", "snippet" (the chunk's lines),
"language"}]}. Keep query_id: after using or rejecting a result, report it with rag_feedback."""

ANSWER_DESCRIPTION = """Answer a question about the indexed code from its top search results, citing
every passage as path:start-end. Returns {"query_id", "question", "answer" (text with citations),
"mode", "model", "note", "citations": [{"cite", "doc_id", "repo", "path", "start_line", "end_line",
"text"}], "reranker"}. mode "llm": a language model configured on the server wrote the answer from
those chunks only; mode "extractive": the lines of the top chunks that best match the question,
grouped per file (no language model, or it failed: note says which). Pass query_id and a
citation's doc_id to rag_feedback."""

FEEDBACK_DESCRIPTION = """Report a search result you used or rejected, so that codesift's ranker learns
from it the way it learns from users' clicks. query_id: from a rag_search or rag_answer result;
doc_id: one of that search's results (results[].doc_id or citations[].doc_id); rating: 5 = used it
or it answered the question, 1 = wrong or irrelevant (2-4 in between); note: optionally, why. The
same feedback sent twice is stored once. Returns {"event_id", "status": "accepted", "duplicate",
"query_id", "doc_id", "rating", "position"}: accepted means stored durably."""

# Tool arguments: the limits of the shared schemas (pydantic reads them from here into the schemas)
QueryArg = Annotated[str, Field(description="A question in words, or identifiers.", **limits(Query))]
RepoArg = Annotated[
    str | None, Field(description=f"Only this repository (see {REPOSITORIES_URI}).", **limits(RepoName))
]
SearchK = Annotated[int, Field(description="How many results.", **limits(TopK))]
AnswerK = Annotated[int, Field(description="How many top results to answer from.", ge=1, le=20)]
QueryIdArg = Annotated[str, Field(description="The query_id of the search.")]
DocIdArg = Annotated[
    str, Field(description="The result's doc_id (path:start-end).", min_length=1, **limits(DocId))
]
RatingArg = Annotated[
    int, Field(description="5 = used it, 1 = rejected it (2-4 in between).", **limits(Rating))
]
NoteArg = Annotated[str | None, Field(description="Why, in a few words.", **limits(Note))]


def _argument_problems(exc: ValidationError) -> str:
    """Pydantic's errors as `name: problem` lines, one per argument at fault."""
    lines = []
    for error in exc.errors(include_url=False):
        name = ".".join(str(part) for part in error["loc"]) or "arguments"
        got = "" if error["type"] == "missing" else f" (got {error['input']!r:.80})"
        lines.append(f"{name}: {error['msg']}{got}")
    return "; ".join(lines)


class CodesiftServer(MCPServer):
    """MCPServer whose tool errors start with the argument at fault, as codesift's HTTP errors do
    (the SDK words them "Error executing tool rag_search: 1 validation error for ...")."""

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if isinstance(exc, UnexpectedToolError):
                raise  # a crash: logged by the SDK, its text stays on the server
            if isinstance(cause, ValidationError):
                raise ToolError(_argument_problems(cause)) from cause
            if isinstance(cause, ToolError):  # ours (`_tool`), already naming the argument: unwrapped
                raise ToolError(str(cause)) from cause
            raise


async def _tool(call: Awaitable[Any]) -> CallToolResult:
    """The tool's result as structured content and, as the spec asks, the same JSON as text (compact:
    the SDK's default indents it, which costs the client parsing time and the agent tokens)."""
    try:
        result = await call
    except GatewayError as exc:
        raise ToolError(exc.detail) from None
    text = msgspec.json.encode(result).decode()
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=result)


async def _resource(call: Awaitable[Any]) -> str:
    try:
        return msgspec.json.encode(await call).decode()
    except GatewayError as exc:
        raise ResourceError(exc.detail) from None


def build_server(tools: CodesiftTools) -> CodesiftServer:
    """The MCP server over `tools` (its backend may be bound later, once the bus is connected)."""
    server = CodesiftServer("codesift", version=version("codesift"), instructions=INSTRUCTIONS)

    @server.tool(
        name="rag_search",
        title="Search code",
        description=SEARCH_DESCRIPTION,
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    )
    async def rag_search(
        query: QueryArg,
        repo: RepoArg = None,
        k: SearchK = 10,
    ) -> Annotated[CallToolResult, SearchResult]:
        return await _tool(tools.search(query, repo, k))

    @server.tool(
        name="rag_answer",
        title="Answer from code, with citations",
        description=ANSWER_DESCRIPTION,
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    )
    async def rag_answer(
        question: QueryArg,
        repo: RepoArg = None,
        k: AnswerK = 5,
    ) -> Annotated[CallToolResult, Answer]:
        return await _tool(tools.answer(question, repo, k))

    @server.tool(
        name="rag_feedback",
        title="Report a result used or rejected",
        description=FEEDBACK_DESCRIPTION,
        annotations=ToolAnnotations(
            read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
        ),
    )
    async def rag_feedback(
        query_id: QueryIdArg,
        doc_id: DocIdArg,
        rating: RatingArg,
        note: NoteArg = None,
    ) -> Annotated[CallToolResult, FeedbackResult]:
        return await _tool(tools.feedback(query_id, doc_id, rating, note))

    @server.resource(
        REPOSITORIES_URI,
        name="repositories",
        title="Indexed repositories",
        description='The repositories the search replicas serve: {"index_version", "chunks", '
        '"repositories": [{"name", "chunks"}]}.',
        mime_type="application/json",
    )
    async def repositories() -> str:
        return await _resource(tools.repositories())

    @server.resource(
        MODEL_URI,
        name="model",
        title="Production ranking model",
        description="The production reranker (version, how it ranks, its evaluation) and what each "
        "replica serves: the object GET /api/reranker/info answers.",
        mime_type="application/json",
    )
    async def model() -> str:
        return await _resource(tools.model_info())

    return server
