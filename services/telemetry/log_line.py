"""One line of queries.jsonl: the original feedback format first, then what codesift adds.

A reader that knows only the original six keys (event_id, query, doc_id, rating, source,
timestamp) reads every line unchanged; the optional links follow, and `impression` (what the
user was shown, or null) with `joined` comes last.
"""

from __future__ import annotations

import msgspec

from shared.schemas import FeedbackEvent, Impression, ShownResult


class ShownDoc(msgspec.Struct, omit_defaults=True):
    position: int
    doc_id: str
    content_hash: str = ""  # these three as the replica stamped them (shared.fingerprints)
    symbol: str = ""
    fingerprint: str = ""


class ImpressionSummary(msgspec.Struct):
    """What the search that the feedback refers to showed, in which order, ranked by what."""

    results: list[ShownDoc]
    reranker: str
    model_version: str | None
    index_version: str | None
    timestamp: float


class LogLine(msgspec.Struct, kw_only=True, omit_defaults=True):
    event_id: str
    query: str
    doc_id: str
    rating: int
    source: str
    timestamp: msgspec.Raw  # as received: RFC 3339 text or seconds since the epoch
    query_id: str | None = None
    position: int | None = None
    repo: str | None = None
    note: str | None = None
    client_ip: str | None = None  # present only when the gateway was told to store it
    user_agent: str | None = None
    # the rated chunk's content hash, symbol and line fingerprint, copied from the impression's
    # result of the same doc_id: what finds the chunk again after an edit (mining/reattach.py)
    content_hash: str = ""
    symbol: str = ""
    fingerprint: str = ""
    impression: ImpressionSummary | None  # always written: null when no impression was found
    joined: bool


class _ReceivedTimestamp(msgspec.Struct):
    timestamp: msgspec.Raw


_timestamp_decoder = msgspec.json.Decoder(_ReceivedTimestamp)
_encoder = msgspec.json.Encoder()
line_decoder = msgspec.json.Decoder(LogLine)


def received_timestamp(body: bytes) -> msgspec.Raw:
    """The timestamp exactly as the event's JSON spelled it (the body is already validated)."""
    return _timestamp_decoder.decode(body).timestamp


def summarize(impression: Impression) -> ImpressionSummary:
    return ImpressionSummary(
        results=[
            ShownDoc(r.position, r.doc_id, r.content_hash, r.symbol, r.fingerprint)
            for r in impression.results
        ],
        reranker=impression.reranker,
        model_version=impression.model_version,
        index_version=impression.index_version,
        timestamp=impression.timestamp,
    )


def build_line(event: FeedbackEvent, timestamp: msgspec.Raw, impression: Impression | None) -> bytes:
    """The event's log line, newline included."""
    shown = _shown(event, impression)
    line = LogLine(
        event_id=event.event_id,
        query=event.query,
        doc_id=event.doc_id,
        rating=event.rating,
        source=event.source,
        timestamp=timestamp,
        query_id=event.query_id,
        position=event.position,
        repo=event.repo,
        note=event.note,
        client_ip=event.client_ip,
        user_agent=event.user_agent,
        content_hash=shown.content_hash if shown else "",
        symbol=shown.symbol if shown else "",
        fingerprint=shown.fingerprint if shown else "",
        impression=summarize(impression) if impression is not None else None,
        joined=impression is not None,
    )
    return _encoder.encode(line) + b"\n"


def _shown(event: FeedbackEvent, impression: Impression | None) -> ShownResult | None:
    """The impression's result the event rates: same doc_id (and repo, when the event names one)."""
    if impression is None or not event.doc_id:
        return None
    return next(
        (
            r
            for r in impression.results
            if r.doc_id == event.doc_id and (event.repo is None or r.repo == event.repo)
        ),
        None,
    )
