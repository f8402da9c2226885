"""Spans of lines and the size rules every chunker shares.

A chunker finds definitions as `Span`s (1-based, inclusive line ranges); `fill_gaps` turns the
code between them into `module` spans, and `build_chunks` trims blank lines, splits oversized
spans into overlapping windows and cuts the chunk text out of the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.search.documents import Chunk, SourceFile

MAX_CHUNK_LINES = 80  # a longer span is split into windows
# A chunk's text is at most this many characters: a longer piece is cut between lines, and a single
# longer line (a data blob, a generated one-liner in prose) is cut at this length. The embedder reads
# 256 tokens (~1,000 characters) and an 80-line chunk of code is ~3,000, so this only stops a huge
# line from becoming one huge chunk (a 1 MB line: a 1 MB snippet, BM25 document and impression).
MAX_CHUNK_CHARS = 16_000
SPLIT_WINDOW, SPLIT_OVERLAP = 60, 15  # windows of an oversized span keep its kind and symbol
WINDOW, WINDOW_OVERLAP = 40, 10  # plain line windows for files without structure
CLASS_MAX_LINES = 60  # a longer class becomes a header chunk plus one chunk per method
_HAS_WORD = re.compile(r"[^\W_]")  # a piece without a letter or digit (a lone "};", "# ----") is dropped


@dataclass(frozen=True, slots=True)
class Span:
    start: int  # 1-based, inclusive
    end: int  # 1-based, inclusive
    kind: str
    symbol: str = ""


def split_lines(text: str) -> list[str]:
    """The file's lines as `ast` and editors number them (a final newline adds no line)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def windows(start: int, end: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """Overlapping (start, end) windows covering start..end.

    A last window that would bring fewer than a third of a step of new lines is folded into the
    one before it, so no window is mostly overlap.
    """
    step = size - overlap
    out: list[tuple[int, int]] = []
    lo = start
    while True:
        hi = min(lo + size - 1, end)
        if end - hi < max(1, step // 3):
            out.append((lo, end))
            return out
        out.append((lo, hi))
        lo += step


def fill_gaps(defs: list[Span], first: int, last: int, kind: str, symbol: str = "") -> list[Span]:
    """`defs` (sorted, disjoint) plus one `kind` span for each run of lines between them."""
    out: list[Span] = []
    line = first
    for span in defs:
        if span.start > line:
            out.append(Span(line, span.start - 1, kind, symbol))
        out.append(span)
        line = span.end + 1
    if line <= last:
        out.append(Span(line, last, kind, symbol))
    return out


def trim(span: Span, lines: list[str]) -> Span | None:
    """The span without its leading and trailing blank lines; None when nothing is left."""
    start, end = span.start, span.end
    while start <= end and not lines[start - 1].strip():
        start += 1
    while end >= start and not lines[end - 1].strip():
        end -= 1
    if start > end:
        return None
    return Span(start, end, span.kind, span.symbol)


def line_windows(lines: list[str]) -> list[Span]:
    """Plain overlapping windows over the whole file."""
    if not lines:
        return []
    return [Span(lo, hi, "window") for lo, hi in windows(1, len(lines), WINDOW, WINDOW_OVERLAP)]


def build_chunks(file: SourceFile, lines: list[str], spans: list[Span]) -> list[Chunk]:
    """Chunks for `spans`: blank edges trimmed, oversized spans windowed, wordless ones dropped.

    No chunk's text is longer than MAX_CHUNK_CHARS (`_capped`).
    """
    chunks: list[Chunk] = []
    for raw in spans:
        span = trim(raw, lines)
        if span is None:
            continue
        if span.end - span.start + 1 > MAX_CHUNK_LINES:
            pieces = [
                trim(Span(lo, hi, span.kind, span.symbol), lines)
                for lo, hi in windows(span.start, span.end, SPLIT_WINDOW, SPLIT_OVERLAP)
            ]
        else:
            pieces = [span]
        for piece, text in _capped(pieces, lines):
            if not _HAS_WORD.search(text):
                continue
            chunks.append(
                Chunk(
                    path=file.path,
                    start_line=piece.start,
                    end_line=piece.end,
                    text=text,
                    language=file.language,
                    kind=piece.kind,
                    symbol=piece.symbol,
                )
            )
    return chunks


def _capped(pieces: list[Span | None], lines: list[str]) -> list[tuple[Span, str]]:
    """Each piece with its text, pieces over MAX_CHUNK_CHARS cut between lines into several.

    A single line over the limit becomes a piece of its own, its text cut at the limit: the
    chunk then holds the start of line N, and its doc id still names line N.
    """
    out: list[tuple[Span, str]] = []
    for piece in pieces:
        if piece is None:
            continue
        part = lines[piece.start - 1 : piece.end]
        if sum(map(len, part)) + len(part) - 1 <= MAX_CHUNK_CHARS:
            out.append((piece, "\n".join(part)))
            continue
        start, size = piece.start, -1
        for number in range(piece.start, piece.end + 1):
            length = len(lines[number - 1]) + 1
            if number > start and size + length > MAX_CHUNK_CHARS:
                out.extend(_cut(Span(start, number - 1, piece.kind, piece.symbol), lines))
                start, size = number, -1
            size += length
        out.extend(_cut(Span(start, piece.end, piece.kind, piece.symbol), lines))
    return out


def _cut(span: Span, lines: list[str]) -> list[tuple[Span, str]]:
    trimmed = trim(span, lines)
    if trimmed is None:
        return []
    return [(trimmed, "\n".join(lines[trimmed.start - 1 : trimmed.end])[:MAX_CHUNK_CHARS])]
