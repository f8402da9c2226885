"""What the MCP tools return: each tool's structured content, published as its output schema.

TypedDicts because the SDK derives output schemas and validates results with pydantic; the search
shapes mirror `shared.schemas.SearchResponse` field for field (a test keeps them equal), so
`rag_search` answers exactly what `GET /api/search` does.
"""

from __future__ import annotations

from typing import Literal

from typing_extensions import TypedDict  # pydantic reads TypedDicts from typing only on Python >= 3.12


class SearchHit(TypedDict):
    doc_id: str  # path:start-end, the id rag_feedback takes
    repo: str
    path: str
    start_line: int
    end_line: int
    score: float
    snippet: str  # the chunk's lines start_line..end_line
    language: str


class SearchResult(TypedDict):
    query_id: str  # rag_feedback's query_id
    query: str
    reranker: str  # "none (fusion order)" until a trained model is promoted
    results: list[SearchHit]


class Citation(TypedDict):
    cite: str  # path:start-end of the cited lines
    doc_id: str  # the search result (chunk) the lines come from: rag_feedback's doc_id
    repo: str
    path: str
    start_line: int
    end_line: int
    text: str  # the cited lines


class Answer(TypedDict):
    query_id: str  # of the search the answer was drawn from
    question: str
    answer: str  # text citing path:start-end
    mode: Literal["extractive", "llm"]
    model: str | None  # the language model that wrote it (mode llm)
    note: str  # how the answer was made, or why the language model was not used
    citations: list[Citation]
    reranker: str


class FeedbackResult(TypedDict):
    event_id: str
    status: Literal["accepted"]  # durable in JetStream; the telemetry service logs it once
    duplicate: bool  # the same feedback was sent before (it is stored once)
    query_id: str
    doc_id: str
    rating: int
    position: int | None  # the result's rank when it was shown


class Repository(TypedDict):
    name: str
    chunks: int


class Repositories(TypedDict):
    index_version: str | None
    chunks: int
    repositories: list[Repository]
