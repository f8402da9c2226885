"""msgspec schemas of every message codesift sends.

Schema evolution: new fields get defaults, field types never change.
"""

from __future__ import annotations

import datetime
import functools
from typing import Annotated, Literal

import msgspec

from shared.paths import relative_problem

Query = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
TopK = Annotated[int, msgspec.Meta(ge=1, le=100)]
# letters, digits, "._-", not only dots ("." and ".." name no repository); no "/", NUL or control character
RepoName = Annotated[
    str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^\.*[A-Za-z0-9_-][A-Za-z0-9._-]*$")
]
JobId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


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
    symbol: str = ""  # the function, class or section a chunk holds ("" for a window)
    file_kind: str = ""  # of the whole file (shared.filekinds); "" when the sender did not judge it


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
    reranker_version: str | None = None  # the model served; None: fusion order
    reranker_loaded_at: float | None = None  # when that model was loaded (seconds since the epoch)
    reranker_error: str | None = None  # why the last model change failed; the model before still serves
    reranker_checked_at: float | None = None  # last look at the production pointer
    reranker_prepared: str | None = None  # a trained model downloaded and warmed, ready to be promoted
    experiment: str | None = None  # the online experiment this replica interleaves (shared/experiments.py)


class ServiceInfo(msgspec.Struct):
    """A service's answer to SERVICE_PING: it is up, and what keeps it from doing its work."""

    service: str
    pid: int
    started_at: float
    problems: list[str] = msgspec.field(default_factory=list)  # e.g. "log not writable: [Errno 28] ..."


# ---------------------------------------------------------------- commands (JetStream COMMANDS)


class Command(msgspec.Struct, tag_field="type", forbid_unknown_fields=True):
    job_id: JobId


class IndexCommand(Command, tag="index"):
    path: Annotated[str, msgspec.Meta(min_length=1)]  # absolute path on the indexer's machine
    name: RepoName


class MineCommand(Command, tag="mine"):
    source: Literal["logs", "golden", "bootstrap", "all"] = "all"
    # a golden file on the trainer's machine (default: its setting)
    golden: Annotated[str, msgspec.Meta(min_length=1)] | None = None
    max_bootstrap: Annotated[int, msgspec.Meta(ge=1, le=100_000)] | None = None


class TrainCommand(Command, tag="train"):
    epochs: Annotated[int, msgspec.Meta(ge=1, le=100)] = 1
    lr: Annotated[float, msgspec.Meta(gt=0, lt=1)] = 3e-5
    loss: Literal["bce", "mnrl", "lambda"] = "bce"
    min_triplets: Annotated[int, msgspec.Meta(ge=1)] = 30
    batch_size: Annotated[int, msgspec.Meta(ge=1, le=256)] = 16
    max_length: Annotated[int, msgspec.Meta(ge=32, le=512)] | None = None  # None: from the chunks' lengths
    time_budget_s: Annotated[float, msgspec.Meta(gt=0, le=86_400)] = 600.0
    seed: Annotated[int, msgspec.Meta(ge=0, le=2**32 - 1)] = 0  # what the trainer's seeding takes


class EvaluateCommand(Command, tag="evaluate"):
    model: str | None = None  # a version or a path inside the models directory; None: the newest trained
    # a golden file on the evaluator's machine (default: its setting)
    golden: Annotated[str, msgspec.Meta(min_length=1)] | None = None
    split: Literal["eval", "all"] = "eval"


class PromoteCommand(Command, tag="promote"):
    model: str  # a version (cross-encoder-codesift-...) or a path inside the models directory
    force: bool = False  # skip the gates (manual promotion only)
    min_triplets: Annotated[int, msgspec.Meta(ge=0)] | None = None  # gate override


class RollbackCommand(Command, tag="rollback"):
    pass


AnyCommand = IndexCommand | MineCommand | TrainCommand | EvaluateCommand | PromoteCommand | RollbackCommand


def command_kind(command: Command) -> str:
    """The command's tag: index | mine | train | ..."""
    return str(type(command).__struct_config__.tag)


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


class ModelTrained(Event, tag="model.trained"):
    version: str  # cross-encoder-codesift-YYYYMMDD-HHMMSS: directory and object-store name
    sha256: str  # of the artifact archive in the object store `models`
    job_id: str
    triplets: dict[str, int]  # by source
    manifest: dict[str, object] = {}
    feedback_events: int = 0  # feedback events its training saw (the promoter's "events" gate)


class Interval(msgspec.Struct):
    """Mean MRR@10 difference (candidate - baseline) over paired questions, with its 95% interval."""

    mean: float
    low: float
    high: float


class ModelEvaluated(Event, tag="model.evaluated"):
    version: str
    job_id: str
    split: str  # eval | all
    total_questions: int
    metrics: EvalMetrics  # the candidate, as it would be served
    baselines: dict[str, EvalMetrics]  # "none" (fusion order), "production" (when one exists)
    intervals: dict[str, Interval]  # MRR difference against each baseline
    production_version: str | None
    triplets: int  # training triplets of the candidate (a promotion gate)


class ModelPointer(msgspec.Struct):
    """KV registry["model"]: the production reranker, and the versions it replaced (for rollback)."""

    version: str
    sha256: str  # of the artifact archive in the object store `models`
    promoted_at: float
    previous: list[str] = []  # older production versions, newest first


class ModelUpdated(Event, tag="model.updated"):
    """Broadcast: every search replica loads this version (None: back to no reranker)."""

    version: str | None
    sha256: str | None


class PromotionDecision(Event, tag="promotion.decision"):
    """Appended to the audit stream for every decision, promoted or not."""

    version: str | None
    action: str  # promote | rollback
    promoted: bool
    forced: bool
    gates: dict[str, bool]  # gate name -> passed
    reasons: list[str]  # why a gate failed, in words
    job_id: str | None = None


AnyEvent = JobProgress | IndexUpdated | ModelTrained | ModelEvaluated | ModelUpdated | PromotionDecision

JOB_STATES_FINAL = ("succeeded", "failed")


# ---------------------------------------------------------------- telemetry (JetStream FEEDBACK, IMPRESSIONS)

EventId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
QueryId = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{32}$")]  # uuid4().hex, made by a replica
Rating = Annotated[int, msgspec.Meta(ge=1, le=5)]  # 5 = click or thumbs up, 1 = thumbs down
Source = Annotated[
    str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,31}$")
]  # click | thumbs_up | thumbs_down | note | ...
DocId = Annotated[str, msgspec.Meta(max_length=1000)]  # "path:start-end"; empty only for a note
Note = Annotated[str, msgspec.Meta(max_length=2000)]
EpochSeconds = Annotated[float, msgspec.Meta(gt=0, lt=10_000_000_000)]  # until the year 2286


class FeedbackEvent(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """The original feedback format, plus optional links to the impression it refers to.

    timestamp: RFC 3339 text ("2026-11-25T12:00:00Z") or seconds since the epoch.
    A note ("what was missing?") has source "note", an empty doc_id and the text in `note`.
    """

    event_id: EventId
    query: Query
    doc_id: DocId
    rating: Rating
    source: Source
    timestamp: datetime.datetime | EpochSeconds
    query_id: QueryId | None = None
    position: Annotated[int, msgspec.Meta(ge=1, le=100)] | None = None
    repo: RepoName | None = None
    note: Note | None = None
    # set by the gateway only when CODESIFT_TELEMETRY_STORE_CLIENT is on; never taken from clients
    client_ip: str | None = None
    user_agent: str | None = None


def feedback_problem(event: FeedbackEvent) -> Problem | None:
    """Rules across fields that a schema cannot say, and the doc id's path (`doc_id_problem`)."""
    if (problem := newline_problem(event)) is not None:
        return problem
    if event.doc_id and (reason := doc_id_problem(event.doc_id)):
        return Problem("doc_id", reason)
    if event.source == "note":
        if not (event.note or "").strip():
            return Problem("note", "a note event needs the text of the note")
    elif not event.doc_id:
        return Problem("doc_id", "must name the result (path:start-end); only a note may leave it empty")
    return None


@functools.cache
def _patterned_fields(cls: type) -> tuple[str, ...]:
    """The fields of struct `cls` whose strings must match a pattern."""
    names = []
    for field in msgspec.inspect.type_info(cls).fields:  # type: ignore[union-attr]
        kinds = field.type.types if isinstance(field.type, msgspec.inspect.UnionType) else (field.type,)
        if any(isinstance(kind, msgspec.inspect.StrType) and kind.pattern for kind in kinds):
            names.append(field.name)
    return tuple(names)


def newline_problem(struct: msgspec.Struct) -> Problem | None:
    """A pattern-checked field of `struct` that ends with a newline, which its pattern let through.

    msgspec matches patterns with Python's `re.search`, whose `$` also matches before a final
    newline: "repo\n" passes `^[A-Za-z0-9._-]+$`. JSON Schema has no portable end-of-text anchor,
    so the patterns keep `$` and what decodes untrusted input asks this too (`shared.validation`).
    """
    for name in _patterned_fields(type(struct)):
        value = getattr(struct, name)
        if isinstance(value, str) and value.endswith("\n"):
            return Problem(name, "ends with a newline; control characters are not allowed")
    return None


def doc_id_problem(doc_id: str) -> str | None:
    """Why `doc_id` ("path:start-end", the path relative to its repository) names no chunk, or None.

    Its path must stay inside the repository: not absolute, no `..` part, no NUL or control character.
    """
    path = doc_id.rpartition(":")[0] or doc_id
    reason = relative_problem(path)
    return f"the path {path!r} {reason}" if reason else None


class ShownResult(msgspec.Struct):
    position: int  # 1-based, as shown
    doc_id: str
    repo: str
    path: str
    score: float
    # what finds the chunk again after an edit moves it (shared.fingerprints); "" from older replicas
    content_hash: str = ""
    symbol: str = ""  # qualified name ("Class.method", "Title / Section"); "" for a window
    fingerprint: str = ""
    side: str | None = None  # in an interleaved search: the team that showed it (production | candidate)


class Impression(msgspec.Struct):
    """What one search showed, in which order: published by the replica that answered."""

    query_id: str
    query: str
    repo: str | None
    k: int
    results: list[ShownResult]
    reranker: str
    model_version: str | None
    index_version: str | None
    replica_id: str
    timestamp: float
    experiment: str | None = None  # the online experiment this search interleaved (shared/experiments.py)


class FeedbackAccepted(msgspec.Struct):
    event_id: str
    status: str = "accepted"


# ---------------------------------------------------------------- learning (data/training/triplets.jsonl)


class Triplet(msgspec.Struct, omit_defaults=True):
    """One training group: a query, a chunk that answers it, chunks that do not (DESIGN.md format).

    source: logs | golden | bootstrap. event_ids: the feedback events it was mined from (logs).
    positive_symbol, negative_symbols: the chunks' symbols, when known (negative_symbols is then
    aligned with negative_doc_ids); with the texts' content hashes and fingerprints
    (shared.fingerprints) they find the chunks again after an edit (mining/reattach.py).
    """

    query: str
    positive_text: str
    positive_doc_id: str
    negative_texts: list[str]
    negative_doc_ids: list[str]
    source: str
    event_ids: list[str] = []
    repo: str | None = None
    positive_symbol: str = ""
    negative_symbols: list[str] = []


class ChunkRecord(msgspec.Struct):
    """A chunk as the search service hands it to the trainer (codesift.search.documents)."""

    doc_id: str
    repo: str
    path: str
    start_line: int
    end_line: int
    language: str
    chunk_kind: str
    symbol: str
    text: str


class DocumentsRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Chunks of one repository: those named in doc_ids, or a page of all of them (offset, limit)."""

    repo: RepoName
    doc_ids: Annotated[list[str], msgspec.Meta(max_length=5000)] | None = None
    offset: Annotated[int, msgspec.Meta(ge=0)] = 0
    limit: Annotated[int, msgspec.Meta(ge=1, le=5000)] = 1000


class DocumentsResponse(msgspec.Struct):
    repo: str
    total: int  # chunks of the repository
    chunks: list[ChunkRecord]


class DocumentsReply(msgspec.Struct, omit_defaults=True):
    response: DocumentsResponse | None = None
    error: Problem | None = None


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
feedback_decoder = msgspec.json.Decoder(FeedbackEvent)
impression_decoder = msgspec.json.Decoder(Impression)
command_decoder = msgspec.json.Decoder(AnyCommand)
event_decoder = msgspec.json.Decoder(AnyEvent)
