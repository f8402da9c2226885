"""Retrieval candidates of the golden questions, asked of the search service (fusion order, no rerank).

Questions about a repository the index does not hold are skipped and counted; anything else the
search service refuses, or its silence, fails the evaluation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec
import nats.errors
from nats.aio.client import Client

from services.evaluator.errors import EvaluationError
from shared import subjects
from shared.bus import request
from shared.schemas import Candidate, CandidatesReply, CandidatesRequest, GoldenQuestion, encoder

_reply = msgspec.json.Decoder(CandidatesReply)


@dataclass
class Retrieval:
    questions: list[GoldenQuestion] = field(default_factory=list)  # those with candidates
    candidates: list[list[Candidate]] = field(default_factory=list)  # of each kept question
    skipped: Counter[str] = field(default_factory=Counter)  # repository not indexed -> questions
    unindexed_message: str = ""  # the search service's word on the last skipped repository


async def retrieve(nc: Client, questions: Sequence[GoldenQuestion], k: int, timeout: float) -> Retrieval:
    """The top `k` fusion candidates of every question, within its repository."""
    found = Retrieval()
    for question in questions:
        body = encoder.encode(CandidatesRequest(query=question.q, k=k, repo=question.repo))
        try:
            msg = await request(nc, subjects.SEARCH_CANDIDATES, body, timeout=timeout)
        except (nats.errors.TimeoutError, nats.errors.NoRespondersError) as exc:
            raise EvaluationError(
                f"the search service did not answer ({type(exc).__name__}): is a search replica running?"
            ) from None
        reply = _reply.decode(msg.data)
        if reply.error is not None:
            if reply.error.field == "repo":
                found.skipped[question.repo] += 1
                found.unindexed_message = reply.error.message
                continue
            raise EvaluationError(f"search: {reply.error.field}: {reply.error.message}")
        found.questions.append(question)
        found.candidates.append(reply.response.candidates)
    if not found.questions:
        repos = ", ".join(sorted(found.skipped))
        raise EvaluationError(
            f"no golden question has candidates: repositories {repos} are not indexed "
            f"({found.unindexed_message})",
            field="golden",
        )
    return found
