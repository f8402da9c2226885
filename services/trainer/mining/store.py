"""The triplet store, `data/training/triplets.jsonl`: one `Triplet` per line, every source side by side.

Each write reads the whole file, merges, and replaces it atomically (temporary file, fsync,
rename): a crash leaves the old file or the new one, never a mix. A line that does not decode
(a torn write from elsewhere, a bad hand edit) is dropped at the next write and counted as
repaired. A triplet is identified by (source, normalised query, repo, positive doc id); storing
one that is already there replaces the old one, and the newest goes last, so the file reads
oldest first.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

import msgspec

from services.trainer.mining.text import normalise
from shared.schemas import Triplet

log = logging.getLogger("codesift.trainer")

_decoder = msgspec.json.Decoder(Triplet)
_encoder = msgspec.json.Encoder()

TripletKey = tuple[str, str, str | None, str]


@dataclass(frozen=True, slots=True)
class StoreReport:
    added: int  # triplets not in the file before
    replaced: int  # triplets that took the place of an older one with the same key
    removed: int  # older triplets of a replaced source that this write did not bring back
    repaired: int  # unreadable lines dropped
    total: int  # triplets in the file now


def triplet_key(triplet: Triplet) -> TripletKey:
    return (triplet.source, normalise(triplet.query), triplet.repo, triplet.positive_doc_id)


def load_triplets(path: Path, sources: Collection[str] | None = None) -> list[Triplet]:
    """The stored triplets (of `sources` only, when given), oldest first; none when there is no file."""
    triplets, bad = _read(path)
    if bad:
        log.warning("%s: %d unreadable lines skipped", path, bad)
    return [t for t in triplets if sources is None or t.source in sources]


def count_by_source(triplets: Iterable[Triplet]) -> dict[str, int]:
    return dict(sorted(Counter(t.source for t in triplets).items()))


def store_triplets(
    path: Path, triplets: Iterable[Triplet], *, replace_sources: Collection[str] = ()
) -> StoreReport:
    """Merge `triplets` into the file, keeping every other source's.

    replace_sources: sources that this write mines in full (the whole log, the whole golden
    file): their older triplets not brought back are removed, so a label that changed (a click
    later thumbed down) or a question that moved to the eval side leaves the store.
    """
    existing, repaired = _read(path)
    merged = {triplet_key(t): t for t in existing if t.source not in replace_sources}
    fresh: set[TripletKey] = set()
    for triplet in triplets:
        key = triplet_key(triplet)
        merged.pop(key, None)  # the newest goes last
        merged[key] = triplet
        fresh.add(key)
    _write_atomic(path, b"".join(_encoder.encode(t) + b"\n" for t in merged.values()))
    before = {triplet_key(t) for t in existing}
    dropped = {triplet_key(t) for t in existing if t.source in replace_sources}
    return StoreReport(
        added=len(fresh - before),
        replaced=len(fresh & before),
        removed=len(dropped - fresh),
        repaired=repaired,
        total=len(merged),
    )


def write_split(path: Path, record: dict[str, object]) -> None:
    """Record the golden split (`firewall.split_record`) as JSON, atomically."""
    _write_atomic(path, (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode())


def _read(path: Path) -> tuple[list[Triplet], int]:
    """The decodable triplets of the file and the number of lines that were not."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], 0
    triplets: list[Triplet] = []
    bad = 0
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            triplets.append(_decoder.decode(line))
        except (msgspec.DecodeError, RecursionError):  # garbage, or JSON nested too deep
            bad += 1
    return triplets, bad


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with temporary.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
