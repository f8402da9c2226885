"""The extractive answer: the lines of the top search results that best match the question.

No language model: each line of each result is scored by the question's code-aware tokens it
contains (`shared.tokens`, the tokenizer BM25 uses, so `validate_token` in a question matches
`validateToken` in code), each token weighted by how rare it is among the results' lines, and the
score discounted by the result's rank. Lines scoring at least half the best line's score are
taken, best first, each with a line of context and its chunk's first line (the signature of a
function, the heading of a section), within a budget of lines; they are merged into passages,
kept in file order, grouped per file (files in the order of their best result) and cited
`path:start-end`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from services.gateway.mcp.results import Citation, SearchHit
from shared.tokens import code_tokens, query_tokens

MAX_LINES = 60  # lines in an answer, context included
CONTEXT = 1  # lines kept around a matching line
MIN_SHARE = 0.5  # a line must match at least this share of the best line's score
HEAD_LINES = 12  # lines shown of the best result when no line matches the question
MAX_LINE_CHARS = 300  # a longer line is data, not code to read: cut
RANK_DISCOUNT = 0.5  # a line of the result ranked r (0 = best) scores 1 / (1 + r * RANK_DISCOUNT)


@dataclass
class _Chunk:
    rank: int
    hit: SearchHit
    lines: list[str]
    chosen: set[int] = field(default_factory=set)  # 0-based line offsets in the chunk


def _line_tokens(line: str) -> set[str]:
    return set(code_tokens(line[:MAX_LINE_CHARS]))


def weights(question: str, lines: Sequence[set[str]]) -> dict[str, float]:
    """Each question token's weight: its rarity among `lines` (log(1 + lines / lines with it))."""
    wanted = set(query_tokens(question))
    found = {token: sum(token in tokens for tokens in lines) for token in wanted}
    return {token: math.log1p(len(lines) / n) for token, n in found.items() if n}


def line_score(tokens: set[str], weights: dict[str, float]) -> float:
    """The weight of the question's tokens that a line contains (each counted once)."""
    return sum(weights.get(token, 0.0) for token in tokens)


def select_lines(
    question: str, hits: Sequence[SearchHit], max_lines: int = MAX_LINES
) -> tuple[list[_Chunk], bool]:
    """Each hit with the offsets of its lines chosen for the answer (most chunks choose none), and
    whether any line matched the question (if none did, the start of the best result is chosen)."""
    chunks = [_Chunk(rank, hit, hit["snippet"].splitlines()) for rank, hit in enumerate(hits)]
    tokens = [[_line_tokens(line) for line in chunk.lines] for chunk in chunks]
    weighted = weights(question, [t for chunk_tokens in tokens for t in chunk_tokens])
    scored = [
        (score / (1 + chunk.rank * RANK_DISCOUNT), chunk.rank, offset)
        for chunk in chunks
        for offset, line_tokens in enumerate(tokens[chunk.rank])
        if (score := line_score(line_tokens, weighted)) > 0
    ]
    if not scored:
        if chunks:
            head = [i for i, line in enumerate(chunks[0].lines) if line.strip()]
            chunks[0].chosen.update(head[: min(HEAD_LINES, max_lines)])
        return chunks, False
    best = max(score for score, _, _ in scored)
    scored.sort(key=lambda s: (-s[0], s[1], s[2]))  # best lines first, then better-ranked results
    used = 0
    for score, rank, offset in scored:
        if score < best * MIN_SHARE:
            break
        chunk = chunks[rank]
        wanted = {
            o for o in range(offset - CONTEXT, offset + CONTEXT + 1) if 0 <= o < len(chunk.lines)
        } - chunk.chosen
        if not chunk.chosen:
            wanted.add(_first_line(chunk.lines))
        if used + len(wanted) > max_lines:
            continue
        chunk.chosen |= wanted
        used += len(wanted)
    return chunks, True


def _first_line(lines: list[str]) -> int:
    """The chunk's first non-blank line (a def, a class, a heading)."""
    return next((i for i, line in enumerate(lines) if line.strip()), 0)


def _passages(chunk: _Chunk) -> list[tuple[int, int]]:
    """Chosen offsets merged into (first, last) runs (a gap of one line is filled in), without blank
    lines at either end."""
    runs: list[tuple[int, int]] = []
    for offset in sorted(o for o in chunk.chosen if chunk.lines[o].strip()):
        if runs and offset - runs[-1][1] <= 2:
            runs[-1] = (runs[-1][0], offset)
        else:
            runs.append((offset, offset))
    return runs


@dataclass
class Extract:
    citations: list[Citation]  # grouped per file (files in the order of their best result), in file order
    matched: bool  # False: no line shares a token with the question; the best result's start is cited


def extract(question: str, hits: Sequence[SearchHit], max_lines: int = MAX_LINES) -> Extract:
    """The answer's passages, each cited path:start-end."""
    chunks, matched = select_lines(question, hits, max_lines)
    by_file: dict[tuple[str, str], list[Citation]] = {}
    for chunk in chunks:
        hit = chunk.hit
        for first, last in _passages(chunk):
            start, end = hit["start_line"] + first, hit["start_line"] + last
            by_file.setdefault((hit["repo"], hit["path"]), []).append(
                Citation(
                    cite=f"{hit['path']}:{start}-{end}",
                    doc_id=hit["doc_id"],
                    repo=hit["repo"],
                    path=hit["path"],
                    start_line=start,
                    end_line=end,
                    text="\n".join(line[:MAX_LINE_CHARS] for line in chunk.lines[first : last + 1]),
                )
            )
    return Extract([c for group in by_file.values() for c in _without_repeats(group)], matched)


def _without_repeats(group: list[Citation]) -> list[Citation]:
    """One file's passages in line order; a passage inside another (overlapping chunks) is dropped."""
    kept: list[Citation] = []
    for c in sorted(group, key=lambda c: (c["start_line"], -c["end_line"])):
        if kept and c["end_line"] <= kept[-1]["end_line"]:
            continue
        kept.append(c)
    return kept


def render(citations: Sequence[Citation], hits: Sequence[SearchHit]) -> str:
    """The answer as text: per file a heading, then each passage's citation and its lines."""
    languages = {(h["repo"], h["doc_id"]): h["language"] for h in hits}
    parts: list[str] = []
    current: tuple[str, str] | None = None
    for c in citations:
        if (c["repo"], c["path"]) != current:
            current = (c["repo"], c["path"])
            parts.append(f"## {c['path']} ({c['repo']})")
        fence = "````" if "```" in c["text"] else "```"
        language = languages.get((c["repo"], c["doc_id"]), "")
        parts.append(f"{c['cite']}\n{fence}{language}\n{c['text']}\n{fence}")
    return "\n\n".join(parts)
