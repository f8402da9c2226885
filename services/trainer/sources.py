"""What the miners need from the search service, asked over NATS (services never import each other).

Retrieval goes through `codesift.search.candidates` (fusion order, no reranker), so a model never
feeds on its own output; chunk texts come from `codesift.search.documents`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import msgspec
from nats.aio.client import Client

from shared import subjects
from shared.bus import gather, request
from shared.schemas import (
    Candidate,
    CandidatesReply,
    CandidatesRequest,
    ChunkRecord,
    DocumentsReply,
    DocumentsRequest,
    ReplicaInfo,
    encoder,
)

_candidates = msgspec.json.Decoder(CandidatesReply)
_documents = msgspec.json.Decoder(DocumentsReply)
_info = msgspec.json.Decoder(ReplicaInfo)


class SourceError(RuntimeError):
    """The search service answered an error; `field` names what it refused ("repo": not indexed)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


class SearchSource:
    """Blocking calls for miners running in a worker thread; the NATS work runs on the service's loop."""

    def __init__(self, nc: Client, loop: asyncio.AbstractEventLoop, timeout: float = 30.0):
        self.nc, self.loop, self.timeout = nc, loop, timeout

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(self.timeout + 5)

    async def _ask(self, subject: str, body: object) -> bytes:
        msg = await request(self.nc, subject, encoder.encode(body), timeout=self.timeout)
        return msg.data

    def repos(self) -> dict[str, int]:
        answers = self._run(gather(self.nc, subjects.SEARCH_PING, b"{}", 0.5))
        repos: dict[str, int] = {}
        for data in answers:
            repos.update(_info.decode(data).repos)
        return repos

    def candidates(self, query: str, repo: str | None, k: int) -> list[Candidate]:
        data = self._run(
            self._ask(subjects.SEARCH_CANDIDATES, CandidatesRequest(query=query, k=k, repo=repo))
        )
        reply = _candidates.decode(data)
        if reply.error is not None:
            raise SourceError(reply.error.field, reply.error.message)
        return reply.response.candidates

    def texts(self, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """(repo, doc_id) -> text, for those the index still holds."""
        by_repo: dict[str, list[str]] = {}
        for repo, doc_id in wanted:
            by_repo.setdefault(repo, []).append(doc_id)
        found: dict[tuple[str, str], str] = {}
        for repo, doc_ids in by_repo.items():
            for start in range(0, len(doc_ids), 1000):
                body = DocumentsRequest(repo=repo, doc_ids=doc_ids[start : start + 1000])
                reply = _documents.decode(self._run(self._ask(subjects.SEARCH_DOCUMENTS, body)))
                if reply.error is not None:
                    if reply.error.field == "repo":
                        break  # that repository is no longer indexed: its docs are skipped
                    raise SourceError(reply.error.field, reply.error.message)
                found.update({(repo, c.doc_id): c.text for c in reply.response.chunks})
        return found

    def chunks(self, repo: str, page: int = 1000) -> Iterator[ChunkRecord]:
        offset, total = 0, None
        while total is None or offset < total:
            body = DocumentsRequest(repo=repo, offset=offset, limit=page)
            reply = _documents.decode(self._run(self._ask(subjects.SEARCH_DOCUMENTS, body)))
            if reply.error is not None:
                raise SourceError(reply.error.field, reply.error.message)
            total = reply.response.total
            yield from reply.response.chunks
            offset += page
