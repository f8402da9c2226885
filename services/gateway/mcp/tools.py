"""What the MCP tools and resources do, over the gateway's own clients (no MCP types here).

Every refusal is a GatewayError; `InvalidParameter` names the tool's argument at fault. The MCP
layer (`server.py`) turns them into tool errors in one place.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import msgspec
import nats.errors
from nats.js import JetStreamContext

from services.gateway.errors import InvalidParameter, Unavailable
from services.gateway.feedback import read_event
from services.gateway.feedback_client import FeedbackClient
from services.gateway.health import served_index
from services.gateway.mcp import extractive
from services.gateway.mcp.llm import LlmFailed, LlmWriter
from services.gateway.mcp.results import Answer, FeedbackResult, Repositories, Repository, SearchResult
from services.gateway.model_catalog import production_info
from services.gateway.models_client import ModelsClient
from services.gateway.search_client import HOW_TO_START, SearchClient
from shared.impressions import find_impression
from shared.schemas import QueryId, SearchRequest, SearchResponse, encoder

FEEDBACK_SOURCE = "mcp"
REMEMBERED_SEARCHES = 2_000  # searches this server answered, kept to check feedback without a lookup
NO_LINE_MATCHED = "no line of the results contains a word of the question: the best result's start is cited"
PASS_QUERY_ID = "pass the query_id of a rag_search or rag_answer result"
NO_LLM_NOTE = (
    "extractive: the lines of the top results that best match the question; set CODESIFT_LLM_BASE_URL "
    "(+ CODESIFT_LLM_MODEL) to have a language model write the answer from the same chunks"
)


@dataclass(frozen=True)
class Backend:
    """The gateway's connections, as the tools use them."""

    search: SearchClient
    feedback: FeedbackClient
    models: ModelsClient
    js: JetStreamContext  # for the impressions of searches another process answered
    writer: LlmWriter | None = None  # None: extractive answers only


@dataclass(frozen=True)
class Shown:
    """What one search showed: its query, and (doc_id, repo) of each result by position."""

    query: str
    results: list[tuple[str, str]]

    def position(self, doc_id: str) -> tuple[int, str] | None:
        """The 1-based position and repo of `doc_id` among the results, or None."""
        for position, (shown, repo) in enumerate(self.results, 1):
            if shown == doc_id:
                return position, repo
        return None


class CodesiftTools:
    """The tools' behaviour. The backend is bound once the gateway's bus connection is up."""

    def __init__(self, backend: Backend | None = None) -> None:
        self._backend = backend
        self._shown: OrderedDict[str, Shown] = OrderedDict()

    def bind(self, backend: Backend | None) -> None:
        self._backend = backend

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            raise Unavailable(f"the gateway is not connected to the message bus: {HOW_TO_START}")
        return self._backend

    # ------------------------------------------------------------ rag_search

    async def search(
        self, query: str, repo: str | None = None, k: int = 10, field: str = "query"
    ) -> SearchResult:
        """The ranked results of GET /api/search, unchanged; the replica records the impression."""
        if not query.strip():
            raise InvalidParameter(field, "must contain more than white space")
        try:
            response = await self.backend.search.search(SearchRequest(query=query, k=k, repo=repo))
        except InvalidParameter as exc:
            raise _renamed(exc, {"q": field, "query": field}) from None
        self._remember(response)
        result: SearchResult = msgspec.to_builtins(response)
        return result

    def _remember(self, response: SearchResponse) -> None:
        self._shown[response.query_id] = Shown(response.query, [(h.doc_id, h.repo) for h in response.results])
        if len(self._shown) > REMEMBERED_SEARCHES:
            self._shown.popitem(last=False)

    # ------------------------------------------------------------ rag_answer

    async def answer(self, question: str, repo: str | None = None, k: int = 5) -> Answer:
        """An answer from the top `k` results, citing path:start-end (written by the LLM when one is set)."""
        found = await self.search(question, repo, k, field="question")
        hits = found["results"]
        answer = Answer(
            query_id=found["query_id"],
            question=question,
            answer="",
            mode="extractive",
            model=None,
            note=NO_LLM_NOTE,
            citations=[],
            reranker=found["reranker"],
        )
        if not hits:
            answer["answer"] = "Nothing indexed matches the question."
            answer["note"] = "no search results"
            return answer
        writer = self.backend.writer
        if writer is not None:
            try:
                text, citations = await writer.write(question, hits)
            except LlmFailed as exc:
                answer["note"] = (
                    f"the language model {writer.config.model} at {writer.config.base_url} failed ({exc}): "
                    "this is the extractive answer instead"
                )
            else:
                answer.update(
                    answer=text,
                    mode="llm",
                    model=writer.config.model,
                    note=f"written by {writer.config.model} from the {len(hits)} chunks found, and only them",
                    citations=citations,
                )
                return answer
        extract = extractive.extract(question, hits)
        answer["citations"] = extract.citations
        answer["answer"] = extractive.render(extract.citations, hits)
        if not extract.matched:
            answer["note"] += f"; {NO_LINE_MATCHED}"
        return answer

    # ------------------------------------------------------------ rag_feedback

    async def feedback(
        self, query_id: str, doc_id: str, rating: int, note: str | None = None
    ) -> FeedbackResult:
        """Record that an agent used (5) or rejected (1) a result: POST /api/telemetry/event's checks
        and JetStream path, source `mcp`. The event id is derived from the arguments, so the same
        feedback sent twice is stored once."""
        try:
            msgspec.convert(query_id, QueryId)
        except msgspec.ValidationError as exc:
            raise InvalidParameter("query_id", f"{exc}: {PASS_QUERY_ID}") from None
        shown = await self._shown_by(query_id)
        if shown is None:
            raise InvalidParameter("query_id", f"no search has this id: {PASS_QUERY_ID}")
        found = shown.position(doc_id)
        if found is None:
            raise InvalidParameter(
                "doc_id",
                f"{doc_id!r} is not among the {len(shown.results)} results of search {query_id}: "
                "pass the doc_id of one of them",
            )
        position, repo = found
        digest = hashlib.sha256(f"{doc_id}\0{rating}\0{note or ''}".encode()).hexdigest()[:16]
        body: dict[str, Any] = {
            "event_id": f"mcp-{query_id}-{digest}",
            "query": shown.query,
            "doc_id": doc_id,
            "rating": rating,
            "source": FEEDBACK_SOURCE,
            "timestamp": time.time(),
            "query_id": query_id,
            "position": position,
            "repo": repo,
        }
        if note is not None:
            body["note"] = note
        event = read_event(encoder.encode(body))  # the checks of POST /api/telemetry/event
        ack = await self.backend.feedback.publish(event)
        return FeedbackResult(
            event_id=event.event_id,
            status="accepted",
            duplicate=bool(ack.duplicate),
            query_id=query_id,
            doc_id=doc_id,
            rating=rating,
            position=position,
        )

    async def _shown_by(self, query_id: str) -> Shown | None:
        """What search `query_id` showed: remembered when this server answered it, else its impression."""
        if (shown := self._shown.get(query_id)) is not None:
            return shown
        try:
            impression = await find_impression(self.backend.js, query_id)
        except (nats.errors.Error, TimeoutError) as exc:
            raise Unavailable(f"the search's impression is unreadable ({exc!r}): {HOW_TO_START}") from None
        if impression is None:
            return None
        ordered = sorted(impression.results, key=lambda r: r.position)
        return Shown(impression.query, [(r.doc_id, r.repo) for r in ordered])

    # ------------------------------------------------------------ resources

    async def repositories(self) -> Repositories:
        """The repositories the replicas serve, with their chunk counts."""
        index = served_index(await self.backend.search.ping())
        return Repositories(
            index_version=index.version,
            chunks=index.chunks,
            repositories=[Repository(name=name, chunks=n) for name, n in sorted(index.repos.items())],
        )

    async def model_info(self) -> dict[str, Any]:
        """GET /api/reranker/info: the production model, how it ranks, what each replica serves."""
        info = await production_info(self.backend.search, self.backend.models)
        result: dict[str, Any] = msgspec.to_builtins(info)
        return result


def _renamed(exc: InvalidParameter, names: dict[str, str]) -> InvalidParameter:
    """`exc` naming the tool's argument instead of the HTTP parameter or schema field."""
    field = exc.field or ""
    if field not in names:
        return exc
    return InvalidParameter(names[field], exc.detail.removeprefix(f"{field}: "))
