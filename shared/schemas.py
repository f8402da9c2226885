"""msgspec schemas of every message codesift sends.

Schema evolution: new fields get defaults, field types never change.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

Query = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
TopK = Annotated[int, msgspec.Meta(ge=1, le=100)]
RepoName = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._-]+$")]


# ---------------------------------------------------------------- search (request/reply)


class SearchRequest(msgspec.Struct, forbid_unknown_fields=True):
    query: Query
    k: TopK = 10
    repo: RepoName | None = None


class SearchHit(msgspec.Struct):
    doc_id: str
    repo: str
    path: str
    start_line: int
    end_line: int
    score: float
    snippet: str
    language: str


class SearchResponse(msgspec.Struct):
    query_id: str
    query: str
    reranker: str  # "none (fusion order)" until a trained model is promoted
    results: list[SearchHit]


class Problem(msgspec.Struct):
    """A rejected request: which field, and what is wrong with it."""

    field: str
    message: str


class SearchReply(msgspec.Struct, omit_defaults=True):
    """What a replica answers on SEARCH_QUERY: a response or a problem, never both."""

    response: SearchResponse | None = None
    error: Problem | None = None


class CandidatesRequest(msgspec.Struct, forbid_unknown_fields=True):
    query: Query
    k: Annotated[int, msgspec.Meta(ge=1, le=500)] = 50
    repo: RepoName | None = None


class Candidate(msgspec.Struct):
    doc_id: str
    repo: str
    path: str
    start_line: int
    end_line: int
    language: str
    chunk_kind: str
    content_hash: str
    text: str
    fusion_rank: int
    fusion_score: float
    bm25_rank: int | None
    bm25_score: float
    vector_rank: int | None
    vector_score: float


class CandidatesResponse(msgspec.Struct):
    query: str
    candidates: list[Candidate]


class CandidatesReply(msgspec.Struct, omit_defaults=True):
    response: CandidatesResponse | None = None
    error: Problem | None = None


class ReplicaInfo(msgspec.Struct):
    """A replica's answer to SEARCH_PING."""

    replica_id: str
    index_version: str | None
    chunks: int
    repos: dict[str, int]  # repo name -> chunk count
    reranker: str
    started_at: float
    pid: int = 0


# ---------------------------------------------------------------- commands (JetStream COMMANDS)


class Command(msgspec.Struct, tag_field="type", forbid_unknown_fields=True):
    job_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class IndexCommand(Command, tag="index"):
    path: Annotated[str, msgspec.Meta(min_length=1)]  # absolute path on the indexer's machine
    name: RepoName


AnyCommand = IndexCommand


# ---------------------------------------------------------------- events


class Event(msgspec.Struct, tag_field="type"):
    timestamp: float


class JobProgress(Event, tag="job.progress"):
    job_id: str
    kind: str  # index | mine | train | evaluate | promote | rollback
    state: str  # queued | running | succeeded | failed
    progress: float = 0.0  # 0..1
    message: str = ""
    result: dict[str, object] = {}


class IndexUpdated(Event, tag="index.updated"):
    version: str  # object name in the `indexes` object store
    sha256: str
    chunks: int
    repos: dict[str, int]


AnyEvent = JobProgress | IndexUpdated

JOB_STATES_FINAL = ("succeeded", "failed")


# ---------------------------------------------------------------- golden questions and evals


class GoldenQuestion(msgspec.Struct, forbid_unknown_fields=False):
    q: Query
    repo: str
    expect_paths: Annotated[list[str], msgspec.Meta(min_length=1)]


class EvalMetrics(msgspec.Struct):
    mrr: float
    hit_at_1: float
    hit_at_3: float
    hit_at_5: float
    hit_at_10: float
    ndcg_at_10: float


class QuestionResult(msgspec.Struct):
    q: str
    repo: str
    first_correct_rank: int | None  # 1-based, None when no correct result in the top 10


class EvalResult(msgspec.Struct):
    timestamp: str
    model_path: str | None
    metrics: EvalMetrics
    total_questions: int
    per_question: list[QuestionResult] = []


# ---------------------------------------------------------------- codecs, built once

encoder = msgspec.json.Encoder()
command_decoder = msgspec.json.Decoder(AnyCommand)
event_decoder = msgspec.json.Decoder(AnyEvent)
