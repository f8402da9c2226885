"""Split a source file into chunks: definitions for code, sections for docs, windows otherwise.

Every chunk's text is exactly lines start_line..end_line of the file (1-based, inclusive; a single
line over MAX_CHUNK_CHARS is cut at that length, and longer pieces are cut between lines), with
no blank lines at either edge. Spans longer than `MAX_CHUNK_LINES` are split into overlapping
windows that keep their kind and symbol. Kinds: function, class, method, module, doc_section,
window.
"""

from __future__ import annotations

from services.search.chunkers.braces import LANGUAGES as BRACE_LANGUAGES
from services.search.chunkers.braces import brace_spans
from services.search.chunkers.docs import markdown_headings, rst_headings, section_spans
from services.search.chunkers.python import python_spans
from services.search.chunkers.spans import Span, build_chunks, line_windows, split_lines
from services.search.documents import Chunk, SourceFile

__all__ = ["chunk_file"]


def chunk_file(file: SourceFile) -> list[Chunk]:
    """The chunks of one file, in line order (windows of one span overlap)."""
    lines = split_lines(file.text)
    return build_chunks(file, lines, _spans(file.language, file.text, lines))


def _spans(language: str, text: str, lines: list[str]) -> list[Span]:
    if not lines:
        return []
    if language == "python":
        spans = python_spans(text, lines)
        return line_windows(lines) if spans is None else spans
    if language in BRACE_LANGUAGES:
        return brace_spans(language, text, lines)
    if language == "markdown":
        return section_spans(markdown_headings(lines), lines)
    if language == "rst":
        return section_spans(rst_headings(lines), lines)
    return line_windows(lines)
