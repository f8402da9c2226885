"""A seeded edit script over a repository copy, and the truth of where each chunk went.

`edit_repository` edits a share of the files the indexer reads, the way people do: lines inserted
above definitions (a module or class statement, or a comment that joins the definition's chunk),
definitions renamed (call sites left alone), a definition's last line edited, lines inserted
in prose and config, and some files moved unchanged to another directory. Every line of the
result remembers the line it was before (or none, when inserted), so `truth` can say on which
new chunk an old chunk landed: the new chunk of the file's new path that holds most of its old
lines. bench/reattach.py and tests/unit/trainer/test_reattach_edits.py both use it.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import random
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import numpy as np

from services.search.documents import Chunk
from services.search.files import walk_repository
from services.search.index import SearchIndex
from services.search.indexer import index_repository
from services.telemetry.log_line import build_line
from services.trainer.mining.logs import mine_logs
from services.trainer.mining.reattach import Catalog, Label, Reattacher
from shared.fingerprints import fingerprint
from shared.schemas import ChunkRecord, FeedbackEvent, Impression, ShownResult

MOVED_DIR = "moved"


class HashEmbedder:
    """Vectors from a hash of the text: re-attachment never looks at vectors, indexing needs some."""

    dim = 8
    identity = "hash-embedder"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha1(text.encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            rows.append(v / np.linalg.norm(v))
        return np.stack(rows) if rows else np.zeros((0, self.dim), np.float32)


def index(root: Path, name: str, previous: SearchIndex | None = None) -> SearchIndex:
    """The search service's own indexing of `root` (previous: the index before, vectors reused)."""
    built, _ = index_repository(root, name, previous, HashEmbedder())  # type: ignore[arg-type]
    return built


def record(chunk: Chunk) -> ChunkRecord:
    """A chunk as codesift.search.documents hands it to the trainer."""
    return ChunkRecord(
        chunk.doc_id,
        chunk.repo,
        chunk.path,
        chunk.start_line,
        chunk.end_line,
        chunk.language,
        chunk.kind,
        chunk.symbol,
        chunk.text,
    )


def shown(chunk: Chunk, position: int = 1) -> ShownResult:
    """A chunk as a replica stamps it into an impression."""
    return ShownResult(
        position,
        chunk.doc_id,
        chunk.repo,
        chunk.path,
        1.0 / position,
        content_hash=chunk.content_hash,
        symbol=chunk.symbol,
        fingerprint=fingerprint(chunk.text),
    )


def impression(query_id: str, query: str, chunks: list[Chunk]) -> Impression:
    results = [shown(c, p) for p, c in enumerate(chunks, 1)]
    return Impression(query_id, query, None, 10, results, "none (fusion order)", None, "v1", "bench", 1.0)


@dataclass
class EditedFile:
    """old path -> new path, and each new line's old line number (None: inserted)."""

    old_path: str
    new_path: str
    origin: list[int | None]
    edits: list[str] = field(default_factory=list)  # what was done, in words

    def line_map(self) -> dict[int, int]:
        return {old: new for new, old in enumerate(self.origin, 1) if old is not None}


@dataclass
class EditReport:
    files: int  # files the indexer reads
    edited: dict[str, EditedFile]  # by old path
    counts: dict[str, int]  # edit kind -> how many


def edit_repository(root: Path, rng: random.Random, share: float = 0.2) -> EditReport:
    """Edit `share` of the files under `root` in place (see the module docstring)."""
    paths = sorted(f.path for f in walk_repository(root))
    chosen = rng.sample(paths, max(1, math.ceil(share * len(paths))))
    edited: dict[str, EditedFile] = {}
    counts: dict[str, int] = {}
    for number, path in enumerate(chosen):
        file = root / path
        lines = file.read_text(encoding="utf-8", errors="replace").splitlines()
        result = EditedFile(path, path, list(range(1, len(lines) + 1)))
        if number % 5 == 4:  # every fifth chosen file moves, unchanged
            result.new_path = f"{MOVED_DIR}/{path}"
            target = root / result.new_path
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(file, target)
            result.edits.append("moved")
        else:
            for _ in range(rng.randint(1, 3)):
                kind = _edit(path, lines, result, rng, len(result.edits))
                result.edits.append(kind)
            file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        for kind in result.edits:
            counts[kind] = counts.get(kind, 0) + 1
        edited[path] = result
    return EditReport(len(paths), edited, counts)


def _edit(path: str, lines: list[str], result: EditedFile, rng: random.Random, n: int) -> str:
    defs = _definitions("\n".join(lines)) if path.endswith(".py") else None
    if not defs:
        at = rng.randint(0, len(lines))
        lines.insert(at, f"edited line {n} of {path}")
        result.origin.insert(at, None)
        return "line inserted"
    node = rng.choice(defs)
    indent = " " * node.col_offset
    roll = rng.random()
    if roll < 0.35:
        row = node.lineno - 1
        lines[row] = lines[row].replace(f" {node.name}", f" {node.name}_v{n}", 1)
        return "renamed"
    if roll < 0.5:
        row = node.body[-1].end_lineno or node.body[-1].lineno
        lines[row - 1] += f"  # edited {n}"
        return "line edited inside"
    at = min([d.lineno for d in node.decorator_list] + [node.lineno]) - 1
    if rng.random() < 0.5:
        added = [f"{indent}# edited {n}: see below"]  # joins the definition's chunk
        kind = "comment inserted above"
    else:
        added = [f"{indent}_edited_{n} = {n}", ""]
        kind = "lines inserted above"
    lines[at:at] = added
    result.origin[at:at] = [None] * len(added)
    return kind


def _definitions(text: str) -> list[ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef]:
    """Top-level definitions and methods (what the Python chunker makes chunks of)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    found = []
    for node in tree.body:
        if isinstance(node, kinds):
            found.append(node)
            if isinstance(node, ast.ClassDef):
                found += [item for item in node.body if isinstance(item, kinds)]
    return found


def truth(old: Chunk, report: EditReport, new_chunks: dict[str, list[Chunk]]) -> str | None:
    """The doc_id the old chunk should land on: the new chunk of its file holding most of its lines."""
    edit = report.edited.get(old.path)
    if edit is None:
        return old.doc_id
    mapping = edit.line_map()
    lines = {mapping[n] for n in range(old.start_line, old.end_line + 1) if n in mapping}
    best, most = None, 0
    for chunk in new_chunks.get(edit.new_path, []):
        held = sum(1 for n in lines if chunk.start_line <= n <= chunk.end_line)
        if held > most:
            best, most = chunk, held
    return best.doc_id if best is not None else None


@dataclass
class Outcome:
    """Labels on every chunk of a repository, after an edit script and a re-index."""

    labels: int
    by_rule: dict[str, int]  # rule -> labels it placed (mining/reattach.py RULES)
    right_by_rule: dict[str, int]  # of those, placed on the chunk the truth names
    mined: dict[str, int]  # what mine_logs counted (stats.labels)
    triplets_right: int  # mined triplets whose positive is the truth's chunk
    wrong: list[tuple[str, str, str | None, str | None]]  # (rule, old doc_id, placed, truth)

    @property
    def moved(self) -> int:
        """Labels whose doc_id or content changed: those that needed re-attaching."""
        return self.labels - self.by_rule.get("intact", 0)

    @property
    def moved_right(self) -> int:
        return sum(n for rule, n in self.right_by_rule.items() if rule != "intact")


def label_scenario(
    root: Path, name: str, rng: random.Random, share: float = 0.2
) -> tuple[Outcome, EditReport]:
    """Click on every chunk of `root` (one search each, logged as telemetry logs it), edit `share`
    of the files, re-index, mine the log with re-attachment, and compare with the truth."""
    before = index(root, name)
    old_chunks = [c for c in before.chunks if c.repo == name]
    lines = []
    for n, chunk in enumerate(old_chunks):
        query_id, query = f"{n:032x}", f"label {n}"
        event = FeedbackEvent(f"e{n}", query, chunk.doc_id, 5, "click", 1.0 + n, query_id, 1, name)
        line = build_line(
            event, msgspec.Raw(msgspec.json.encode(1.0 + n)), impression(query_id, query, [chunk])
        )
        lines.append(json.loads(line))

    report = edit_repository(root, rng, share)
    after = index(root, name, before)
    new_chunks: dict[str, list[Chunk]] = {}
    for chunk in after.chunks:
        new_chunks.setdefault(chunk.path, []).append(chunk)
    by_doc = {c.doc_id: c for c in after.chunks if c.repo == name}
    records = [record(c) for c in by_doc.values()]

    def texts(keys):
        return {key: by_doc[key[1]].text for key in keys if key[1] in by_doc}

    reattacher = Reattacher(lambda repo: records if repo == name else [])
    triplets, stats = mine_logs(lines, texts, default_repo=name, reattacher=reattacher)
    positive = {t.query: t.positive_doc_id for t in triplets}

    catalog = Catalog(records)
    by_rule: dict[str, int] = {}
    right_by_rule: dict[str, int] = {}
    wrong = []
    triplets_right = 0
    for n, chunk in enumerate(old_chunks):
        label = Label.of_text(name, chunk.doc_id, chunk.text, chunk.symbol)
        placed = catalog.place(label)
        landed = placed.chunk.doc_id if placed.chunk is not None else None
        expected = truth(chunk, report, new_chunks)
        by_rule[placed.rule] = by_rule.get(placed.rule, 0) + 1
        if landed == expected:
            right_by_rule[placed.rule] = right_by_rule.get(placed.rule, 0) + 1
        else:
            wrong.append((placed.rule, chunk.doc_id, landed, expected))
        if expected is not None and positive.get(f"label {n}") == expected:
            triplets_right += 1
    outcome = Outcome(len(old_chunks), by_rule, right_by_rule, dict(stats.labels), triplets_right, wrong)
    return outcome, report
