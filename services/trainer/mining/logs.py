"""Mining the feedback log: what users clicked, thumbed up or down and skipped becomes triplets.

Rules, per query (events sharing a `query_id` are one search; events without one are grouped by
normalised query text and repo; searches of the same normalised query and repo are one query):

- Each document's label is the rating of its latest event for the query (timestamp, then log
  order): a result clicked and later thumbed down is a negative, one thumbed down and later
  clicked is a positive. Ratings >= 4 are positives, <= 2 negatives, 3 neither.
- Skip-above: in a search whose impression was joined, the deepest shown result that was clicked
  there and is still a positive marks how far the user read; results shown above it with no
  rating for the query are negatives. Results below it were probably not examined: never
  negatives. A search without an impression gives its explicit labels only.
- One triplet per (query, positive): negatives are the query's explicit negatives (in the order
  first rated) then its skip-above negatives (search by search, in shown order), each once; a
  positive is never a negative. `event_ids` are the events the labels rest on: those rating the
  positive or an explicit negative, and the clicks that mark a skip-above depth, in log order.
- Notes (and any event without a doc_id) are ignored.
- With a reattacher, labels whose chunk moved since are first moved with it (mining/reattach.py).

Skip reasons in the stats: malformed (a line that is not a feedback event: torn, garbage, longer
than MAX_LINE_BYTES or nested too deep), note, no_positive
(queries), missing_text (documents whose text the lookup did not return), positive_missing
(triplets dropped because their positive has no text), label_lost (events whose chunk the
reattacher found nowhere).
"""

from __future__ import annotations

import datetime
import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import msgspec

from services.trainer.mining.reattach import Label, Reattacher
from services.trainer.mining.stats import MiningStats
from services.trainer.mining.text import normalise
from shared.schemas import Triplet

DocKey = tuple[str | None, str]  # (repo, doc_id); repo None when the log names none
TextLookup = Callable[[list[DocKey]], Mapping[DocKey, str]]

POSITIVE_MIN = 4
NEGATIVE_MAX = 2
# A logged event is at most ~32 KB plus its joined impression (100 results): a longer line is garbage.
MAX_LINE_BYTES = 1 << 20


class _Shown(msgspec.Struct):
    position: int
    doc_id: str
    content_hash: str = ""
    symbol: str = ""
    fingerprint: str = ""


class _Impression(msgspec.Struct):
    results: list[_Shown]


class _LogEvent(msgspec.Struct):
    event_id: str
    query: str
    doc_id: str
    rating: Annotated[int, msgspec.Meta(ge=1, le=5)]  # a hand-edited 99 is garbage, not a positive
    source: str
    timestamp: float | str
    query_id: str | None = None
    position: int | None = None
    repo: str | None = None
    content_hash: str = ""
    symbol: str = ""
    fingerprint: str = ""
    impression: _Impression | None = None


@dataclass
class _Event:
    line: int  # order in the log
    when: float
    raw: _LogEvent


@dataclass
class _Search:
    events: list[_Event]
    shown: dict[str, int] | None  # doc_id -> position, when the impression was joined


@dataclass
class _Query:
    text: str
    repo: str | None
    searches: list[_Search] = field(default_factory=list)


@dataclass
class _Plan:
    query: _Query
    positive: str
    positive_lines: set[int]  # the events rating the positive
    negatives: dict[str, set[int]]  # doc_id -> the events its label rests on, in negative order


def read_log(path: Path, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[dict[str, Any] | None]:
    """The log's lines as JSON values; None for a line that is not JSON (a torn last write, garbage).

    A line longer than `max_line_bytes` is skipped unread (None) rather than held in memory, and so
    is JSON nested too deep to decode: whatever the file holds, reading it never crashes.
    """
    with path.open("rb") as handle:
        while raw := handle.readline(max_line_bytes + 1):
            if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
                while (rest := handle.readline(1 << 20)) and not rest.endswith(b"\n"):
                    pass  # the rest of the oversized line, a megabyte at a time
                yield None
                continue
            if not raw.strip():
                continue
            try:
                yield json.loads(raw)
            except (ValueError, RecursionError):
                yield None


def mine_logs(
    lines: Iterable[Mapping[str, Any] | None],
    texts: TextLookup,
    *,
    default_repo: str | None = None,
    reattacher: Reattacher | None = None,
) -> tuple[list[Triplet], MiningStats]:
    """Triplets from feedback log lines (see the module docstring); `texts` is asked once, in bulk.

    default_repo: the repository of events that name none (the only one indexed, say).
    reattacher: when given, every label (rated document, shown result) whose doc_id the index no
    longer holds with the same content is first moved to its chunk now (mining/reattach.py), or
    dropped when none is found (`stats.labels`; events so dropped are skipped as label_lost).
    """
    stats = MiningStats("logs")
    events = list(_events(lines, stats, default_repo))
    known: dict[DocKey, str] = {}
    if reattacher is not None:
        events, known = _reattach(events, texts, reattacher, stats)
    symbols = _symbols(events)
    plans: list[_Plan] = []
    for query in _queries(events):
        found = _plan(query)
        if found:
            stats.queries += 1
            plans.extend(found)
        else:
            stats.skipped["no_positive"] += 1

    by_line = {e.line: e.raw.event_id for e in events}
    keys = sorted({(p.query.repo, d) for p in plans for d in [p.positive, *p.negatives]}, key=_key_order)
    asked = [key for key in keys if key not in known]
    found_texts = {key: known[key] for key in keys if key in known}
    found_texts.update(texts(asked) if asked else {})
    missing = sum(1 for key in keys if key not in found_texts)
    if missing:
        stats.skipped["missing_text"] += missing

    triplets: list[Triplet] = []
    for plan in plans:
        repo = plan.query.repo
        positive_text = found_texts.get((repo, plan.positive))
        if positive_text is None:
            stats.skipped["positive_missing"] += 1
            continue
        negatives = [d for d in plan.negatives if (repo, d) in found_texts]
        lines = plan.positive_lines.union(*(plan.negatives[d] for d in negatives))
        triplets.append(
            Triplet(
                query=plan.query.text,
                positive_text=positive_text,
                positive_doc_id=plan.positive,
                negative_texts=[found_texts[(repo, d)] for d in negatives],
                negative_doc_ids=negatives,
                source="logs",
                event_ids=[by_line[n] for n in sorted(lines)],
                repo=repo,
                positive_symbol=symbols.get((repo, plan.positive), ""),
                negative_symbols=_aligned([symbols.get((repo, d), "") for d in negatives]),
            )
        )
    stats.triplets = len(triplets)
    stats.without_negatives = sum(1 for t in triplets if not t.negative_doc_ids)
    return triplets, stats


def _events(
    lines: Iterable[Mapping[str, Any] | None], stats: MiningStats, default_repo: str | None
) -> Iterator[_Event]:
    for number, line in enumerate(lines):
        stats.read += 1
        try:
            raw = msgspec.convert(line, _LogEvent)
            when = _seconds(raw.timestamp)
        except (msgspec.ValidationError, ValueError, OverflowError):
            stats.skipped["malformed"] += 1
            continue
        if raw.source == "note" or not raw.doc_id:
            stats.skipped["note"] += 1
            continue
        raw.repo = raw.repo or default_repo
        yield _Event(number, when, raw)


def _reattach(
    events: list[_Event], texts: TextLookup, reattacher: Reattacher, stats: MiningStats
) -> tuple[list[_Event], dict[DocKey, str]]:
    """The events with every label moved to its chunk now (lost ones dropped), and the texts of
    the chunks they now name."""
    labels: list[Label] = []
    for event in events:
        raw = event.raw
        if raw.repo is None:
            continue  # no repository to look in: the label stays as it is
        labels.append(Label(raw.repo, raw.doc_id, raw.content_hash, raw.symbol, raw.fingerprint))
        for r in raw.impression.results if raw.impression else []:
            labels.append(Label(raw.repo, r.doc_id, r.content_hash, r.symbol, r.fingerprint))
    keys: list[DocKey] = sorted({(label.repo, label.doc_id) for label in labels}, key=_key_order)
    present = texts(keys) if keys else {}
    placed = reattacher.place_all(labels, {(str(k[0]), k[1]): text for k, text in present.items()})
    stats.labels.update(placed[label].rule for label in dict.fromkeys(labels))
    known: dict[DocKey, str] = {}

    def move(label: Label, target: _Shown | _LogEvent) -> bool:
        chunk = placed[label].chunk
        if chunk is None:
            return False
        target.doc_id = chunk.doc_id
        target.symbol = chunk.symbol
        known[(label.repo, chunk.doc_id)] = chunk.text
        return True

    kept: list[_Event] = []
    for event in events:
        raw = event.raw
        if raw.repo is None:
            kept.append(event)
            continue
        if raw.impression is not None:
            raw.impression.results = [
                r
                for r in raw.impression.results
                if move(Label(raw.repo, r.doc_id, r.content_hash, r.symbol, r.fingerprint), r)
            ]
        if move(Label(raw.repo, raw.doc_id, raw.content_hash, raw.symbol, raw.fingerprint), raw):
            kept.append(event)
        else:
            stats.skipped["label_lost"] += 1
    return kept, known


def _symbols(events: list[_Event]) -> dict[DocKey, str]:
    """The symbol each document is known by, from the events and the results shown with them."""
    symbols: dict[DocKey, str] = {}
    for event in events:
        raw = event.raw
        for r in raw.impression.results if raw.impression else []:
            if r.symbol:
                symbols[(raw.repo, r.doc_id)] = r.symbol
        if raw.symbol:
            symbols[(raw.repo, raw.doc_id)] = raw.symbol
    return symbols


def _aligned(symbols: list[str]) -> list[str]:
    """Negative symbols when any is known (aligned with the negative doc ids), else none."""
    return symbols if any(symbols) else []


def _seconds(timestamp: float | str) -> float:
    if isinstance(timestamp, float):
        if not math.isfinite(timestamp):
            raise ValueError(f"timestamp {timestamp} is not a time")
        return timestamp
    moment = datetime.datetime.fromisoformat(timestamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def _queries(events: list[_Event]) -> list[_Query]:
    """Searches (by query id, else by query text and repo), gathered per normalised query and repo."""
    searches: dict[tuple[str, ...], list[_Event]] = {}
    for event in events:
        raw = event.raw
        key = ("id", raw.query_id) if raw.query_id else ("text", normalise(raw.query), raw.repo or "")
        searches.setdefault(key, []).append(event)

    queries: dict[tuple[str, str | None], _Query] = {}
    for grouped in searches.values():
        first = grouped[0].raw
        repo = next((e.raw.repo for e in grouped if e.raw.repo), None)
        impression = next((e.raw.impression for e in grouped if e.raw.impression is not None), None)
        shown = None
        if impression is not None:
            shown = {}
            for result in impression.results:
                shown.setdefault(result.doc_id, result.position)
        query = queries.setdefault((normalise(first.query), repo), _Query(first.query.strip(), repo))
        query.searches.append(_Search(grouped, shown))
    return list(queries.values())


def _plan(query: _Query) -> list[_Plan]:
    """The query's triplets, as doc ids and log lines (texts come later)."""
    events = sorted((e for s in query.searches for e in s.events), key=lambda e: e.line)
    label: dict[str, int] = {}
    rated_by: dict[str, list[int]] = {}
    for event in sorted(events, key=lambda e: (e.when, e.line)):
        label[event.raw.doc_id] = event.raw.rating
    for event in events:
        rated_by.setdefault(event.raw.doc_id, []).append(event.line)
    positives = [d for d in rated_by if label[d] >= POSITIVE_MIN]
    if not positives:
        return []

    evidence: dict[str, set[int]] = {d: set(rated_by[d]) for d in rated_by if label[d] <= NEGATIVE_MAX}
    for search in query.searches:
        for doc, anchor in _skipped_above(search, label):
            evidence.setdefault(doc, set()).update(anchor)

    return [_Plan(query, positive, set(rated_by[positive]), evidence) for positive in positives]


def _skipped_above(search: _Search, label: dict[str, int]) -> list[tuple[str, list[int]]]:
    """Unrated results shown above the deepest still-positive click of the search, with that click."""
    if search.shown is None:
        return []
    clicks: dict[str, list[int]] = {}
    for event in search.events:
        doc = event.raw.doc_id
        if event.raw.rating >= POSITIVE_MIN and label[doc] >= POSITIVE_MIN:
            clicks.setdefault(doc, []).append(event.line)
    depth, anchor = 0, []
    for doc, lines in clicks.items():
        position = search.shown.get(doc) or max(
            (e.raw.position or 0 for e in search.events if e.raw.doc_id == doc), default=0
        )
        if position > depth:
            depth, anchor = position, lines
    above = sorted((p, d) for d, p in search.shown.items() if p < depth and d not in label)
    return [(doc, anchor) for _, doc in above]


def _key_order(key: DocKey) -> tuple[str, str]:
    return (key[0] or "", key[1])
