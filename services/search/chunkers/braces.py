"""Chunking of brace languages: definitions found by bracket matching on masked code."""

from __future__ import annotations

from services.search.chunkers import generic, javascript
from services.search.chunkers.blocks import Blocks, Classifier, Header
from services.search.chunkers.lexer import C_LIKE, GO, JS, PHP, Syntax, mask
from services.search.chunkers.spans import CLASS_MAX_LINES, Span, fill_gaps

# language: (literals and comments, what statements define, whether `;` is what ends a statement)
LANGUAGES: dict[str, tuple[Syntax, Classifier, bool]] = {
    "javascript": (JS, javascript.classify, False),
    "typescript": (JS, javascript.classify, False),
    "go": (GO, generic.classify, False),
    "php": (PHP, generic.classify, True),
    **{name: (C_LIKE, generic.classify, True) for name in ("java", "rust", "c", "cpp", "csharp")},
    **{name: (C_LIKE, generic.classify, False) for name in ("kotlin", "swift", "scala")},
}


def brace_spans(language: str, text: str, lines: list[str]) -> list[Span]:
    """Top-level definitions (large classes split into members) and the module code between them."""
    syntax, classify, semicolons = LANGUAGES[language]
    blocks = Blocks(lines, mask(text, syntax), semicolons)
    spans: list[Span] = []
    for span, header in blocks.definitions(1, len(lines), 0, classify):
        spans.extend(_split_class(blocks, span, header))
    return fill_gaps(spans, 1, len(lines), "module")


def _split_class(blocks: Blocks, span: Span, header: Header) -> list[Span]:
    if header.members is None or span.end - span.start + 1 <= CLASS_MAX_LINES:
        return [span]
    members: list[Span] = []
    for member, member_header in blocks.definitions(span.start, span.end, 1, header.members):
        kind = "method" if member_header.kind == "function" else "class"
        symbol = f"{header.symbol}.{member.symbol}" if header.symbol else member.symbol
        members.append(Span(member.start, member.end, kind, symbol))
    return fill_gaps(members, span.start, span.end, "class", header.symbol)
