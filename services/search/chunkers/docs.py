"""Markdown and reStructuredText: one `doc_section` per heading, symbol = the heading text."""

from __future__ import annotations

import re
from typing import NamedTuple

from services.search.chunkers.spans import Span

_ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r" {0,3}(?:=+|-+)[ \t]*$")
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
# Lines that are not paragraph text, so a --- under them is a rule, not a setext underline.
_NOT_PARAGRAPH = re.compile(r" {0,3}(?:[-*+][ \t]|\d{1,9}[.)][ \t]|>|\||<)|    |\t")
_RST_ADORNMENT = re.compile(r"([=\-`:'\"~^_*+#<>.!$%&(),/;?@\[\]\\{|}])\1+[ \t]*$")


class Heading(NamedTuple):
    start: int  # first line of the heading (an RST overline included)
    body: int  # first line after it
    title: str


def markdown_headings(lines: list[str]) -> list[Heading]:
    """ATX (`# Title`) and setext (`Title` over `===`/`---`) headings, outside fences and front matter."""
    headings: list[Heading] = []
    fence = ""
    paragraph = False  # the previous line is paragraph text, which a setext underline makes a heading
    for n in range(_front_matter_end(lines) + 1, len(lines) + 1):
        line = lines[n - 1]
        if fence:
            stripped = line.strip()
            if stripped.startswith(fence) and not stripped.strip(fence[0]):
                fence = ""
            continue
        if m := _FENCE.match(line):
            fence = m.group(1)
            paragraph = False
        elif m := _ATX.match(line):
            headings.append(Heading(n, n + 1, (m.group(2) or "").strip()))
            paragraph = False
        elif paragraph and _SETEXT.match(line):
            headings.append(Heading(n - 1, n + 1, lines[n - 2].strip()))
            paragraph = False
        else:
            paragraph = bool(line.strip()) and not _NOT_PARAGRAPH.match(line)
    return headings


def rst_headings(lines: list[str]) -> list[Heading]:
    """reST section titles: an unindented line underlined (and maybe overlined) by one repeated mark."""
    headings: list[Heading] = []
    for n in range(2, len(lines) + 1):
        title, under = lines[n - 2], lines[n - 1].rstrip()
        if not title.strip() or title[0].isspace() or not _RST_ADORNMENT.match(under):
            continue
        if _RST_ADORNMENT.match(title) or (len(under) < len(title.rstrip()) and len(under) < 4):
            continue
        over = lines[n - 3].rstrip() if n >= 3 else ""
        if over and over == under:
            headings.append(Heading(n - 2, n + 1, title.strip()))
        elif not over.strip():
            headings.append(Heading(n - 1, n + 1, title.strip()))
    return headings


def section_spans(headings: list[Heading], lines: list[str]) -> list[Span]:
    """One span per heading up to the next; text before the first heading is a section of its own.

    A heading with no text under it (a title right above its first subheading) is merged into
    the section that follows, whose symbol then names both: "Title / Subheading".
    """
    if not headings or headings[0].start > 1:
        headings = [Heading(1, 1, ""), *headings]
    spans: list[Span] = []
    pending: list[Heading] = []
    for i, heading in enumerate(headings):
        last = i + 1 == len(headings)
        end = len(lines) if last else headings[i + 1].start - 1
        if not last and not any(line.strip() for line in lines[heading.body - 1 : end]):
            pending.append(heading)
            continue
        merged = [*pending, heading]
        symbol = " / ".join(h.title for h in merged if h.title)
        spans.append(Span(merged[0].start, end, "doc_section", symbol))
        pending = []
    return spans


def _front_matter_end(lines: list[str]) -> int:
    """Number of lines of a YAML front matter block (--- ... ---) at the top, else 0."""
    if not lines or lines[0].strip() != "---":
        return 0
    for n in range(2, len(lines) + 1):
        if lines[n - 1].strip() in ("---", "..."):
            return n
    return 0
