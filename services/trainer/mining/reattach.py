"""Labels that survive code edits: finding a label's chunk again after a re-index.

A label (a rated document, a shown result, a triplet's positive or negative) names its chunk by
doc_id, `path:start-end`, which the next edit above it breaks. It also carries the chunk's
content hash, symbol and line fingerprint (shared.fingerprints; a stored triplet has its texts,
from which the hash and fingerprint follow). Against the chunks of the same repository in the
current index, a label is, in this order:

1. intact: its doc_id is still there, with the same content hash (or the label has none);
2. content_hash: a chunk with the same content hash: in the same file (the nearest to the old
   lines), else in another file when the chunk left its own (a moved file: the old path is gone,
   or no longer holds the label's symbol; the same text elsewhere beside it is a copy);
3. symbol: a chunk of the same file with the same symbol (the best-overlapping, then the nearest,
   of a symbol split in windows);
4. overlap: the chunk of the same file whose lines overlap the old ones best, when the estimated
   line-set Jaccard is at least OVERLAP_MIN (a renamed function, a window shifted by an insert);
5. lost: none of these; the label is dropped and counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import msgspec

from shared.fingerprints import content_hash, fingerprint, similarity, sketch
from shared.schemas import ChunkRecord, Triplet

RULES = ("intact", "content_hash", "symbol", "overlap", "lost")
OVERLAP_MIN = 0.5


@dataclass(frozen=True, slots=True)
class Label:
    """What a label knows of its chunk (the empty string: not known, an older log line)."""

    repo: str
    doc_id: str
    content_hash: str = ""
    symbol: str = ""
    fingerprint: str = ""

    @classmethod
    def of_text(cls, repo: str, doc_id: str, text: str, symbol: str = "") -> Label:
        return cls(repo, doc_id, content_hash(text), symbol, fingerprint(text))


@dataclass(frozen=True, slots=True)
class Placed:
    """Where a label now lies: the chunk (None when lost) and the rule that found it."""

    rule: str
    chunk: ChunkRecord | None


def doc_location(doc_id: str) -> tuple[str, int]:
    """(path, start line) of a `path:start-end` doc_id; start 0 when it does not parse."""
    path, _, lines = doc_id.rpartition(":")
    start = lines.partition("-")[0]
    if not path or not start.isdigit():
        return doc_id, 0
    return path, int(start)


@dataclass
class _Chunk:
    record: ChunkRecord
    content_hash: str
    lines: set[int]  # its fingerprint's line hashes


class Catalog:
    """The current chunks of one repository, by doc_id, content hash and path."""

    def __init__(self, chunks: Iterable[ChunkRecord]):
        self.by_doc: dict[str, _Chunk] = {}
        self.by_hash: dict[str, list[_Chunk]] = {}
        self.by_path: dict[str, list[_Chunk]] = {}
        for record in chunks:
            chunk = _Chunk(record, content_hash(record.text), sketch(fingerprint(record.text)))
            self.by_doc[record.doc_id] = chunk
            self.by_hash.setdefault(chunk.content_hash, []).append(chunk)
            self.by_path.setdefault(record.path, []).append(chunk)

    def place(self, label: Label) -> Placed:
        here = self.by_doc.get(label.doc_id)
        if here is not None and (not label.content_hash or here.content_hash == label.content_hash):
            return Placed("intact", here.record)
        path, start = doc_location(label.doc_id)

        def nearest(chunk: _Chunk) -> tuple[bool, int]:
            return (chunk.record.path != path, abs(chunk.record.start_line - start))

        in_file = self.by_path.get(path, [])
        same = self.by_hash.get(label.content_hash, []) if label.content_hash else []
        if same and (any(c.record.path == path for c in same) or _left(label, in_file)):
            return Placed("content_hash", min(same, key=nearest).record)
        old = sketch(label.fingerprint)

        def overlap(chunk: _Chunk) -> float:
            return similarity(old, chunk.lines)

        if label.symbol and (named := [c for c in in_file if c.record.symbol == label.symbol]):
            best = min(named, key=lambda c: (-overlap(c), *nearest(c)))
            return Placed("symbol", best.record)
        if old and in_file:
            best = min(in_file, key=lambda c: (-overlap(c), *nearest(c)))
            if overlap(best) >= OVERLAP_MIN:
                return Placed("overlap", best.record)
        return Placed("lost", None)


def _left(label: Label, in_file: list[_Chunk]) -> bool:
    """Whether the chunk left its file: the file is gone, or holds the label's symbol no more.
    (The same text elsewhere while the file still holds the symbol is a copy, not the chunk.)"""
    if not in_file:
        return True
    return bool(label.symbol) and all(c.record.symbol != label.symbol for c in in_file)


ChunkSource = Callable[[str], Iterable[ChunkRecord]]  # repo -> its current chunks


@dataclass
class Reattacher:
    """Places labels against the current index; a repository's chunks are fetched once, when the
    first of its labels is not intact. `counts`: labels placed by each rule (RULES)."""

    chunks: ChunkSource
    counts: Counter[str] = field(default_factory=Counter)
    _catalogs: dict[str, Catalog] = field(default_factory=dict)

    def catalog(self, repo: str) -> Catalog:
        if repo not in self._catalogs:
            self._catalogs[repo] = Catalog(self.chunks(repo))
        return self._catalogs[repo]

    def place_all(
        self, labels: Iterable[Label], present: Mapping[tuple[str, str], str]
    ) -> dict[Label, Placed]:
        """Each distinct label's place. `present`: (repo, doc_id) -> text, for those of the labels'
        doc_ids the index still holds (a bulk lookup the miner already makes)."""
        placed: dict[Label, Placed] = {}
        for label in labels:
            if label in placed:
                continue
            text = present.get((label.repo, label.doc_id))
            if text is not None and (not label.content_hash or content_hash(text) == label.content_hash):
                record = ChunkRecord(label.doc_id, label.repo, "", 0, 0, "", "", label.symbol, text)
                placed[label] = Placed("intact", record)
            else:
                placed[label] = self.catalog(label.repo).place(label)
            self.counts[placed[label].rule] += 1
        return placed

    def summary(self) -> dict[str, int]:
        """Labels by rule, every rule named (0 when none), for job results."""
        return {rule: self.counts.get(rule, 0) for rule in RULES}


REATTACHED_SOURCES = ("logs", "golden")  # whose triplet texts are their chunks' texts
TextSource = Callable[[list[tuple[str, str]]], Mapping[tuple[str, str], str]]  # SearchSource.texts


def reattach_triplets(
    triplets: Iterable[Triplet], texts: TextSource, reattacher: Reattacher
) -> tuple[list[Triplet], int]:
    """Stored triplets moved to their chunks now, with those chunks' current texts and symbols.

    A triplet whose positive is lost is dropped; a lost negative leaves the triplet. Returns the
    triplets and how many changed (moved, dropped or lost a negative). A triplet without a repo
    stays as it is, and so does one of a source outside REATTACHED_SOURCES: a bootstrap positive
    is its chunk with the documentation that became the query cut out (not the chunk's text, so
    its hash names no chunk), and the next bootstrap mining makes it again from the code.
    """
    triplets = list(triplets)
    labels: dict[int, list[Label]] = {}
    for number, t in enumerate(triplets):
        if t.repo is None or t.source not in REATTACHED_SOURCES:
            continue
        symbols = t.negative_symbols or [""] * len(t.negative_doc_ids)
        labels[number] = [
            Label.of_text(t.repo, t.positive_doc_id, t.positive_text, t.positive_symbol),
            *(
                Label.of_text(t.repo, d, text, symbol)
                for d, text, symbol in zip(t.negative_doc_ids, t.negative_texts, symbols, strict=False)
            ),
        ]
    keys = sorted({(label.repo, label.doc_id) for group in labels.values() for label in group})
    placed = reattacher.place_all([label for group in labels.values() for label in group], texts(keys))
    out: list[Triplet] = []
    changed = 0
    for number, t in enumerate(triplets):
        if number not in labels:
            out.append(t)
            continue
        positive, *negatives = (placed[label] for label in labels[number])
        if positive.chunk is None:
            changed += 1
            continue
        kept = [p.chunk for p in negatives if p.chunk is not None]
        moved = msgspec.structs.replace(
            t,
            positive_text=positive.chunk.text,
            positive_doc_id=positive.chunk.doc_id,
            positive_symbol=positive.chunk.symbol,
            negative_texts=[c.text for c in kept],
            negative_doc_ids=[c.doc_id for c in kept],
            negative_symbols=[c.symbol for c in kept] if any(c.symbol for c in kept) else [],
        )
        changed += moved != t
        out.append(moved)
    return out, changed
