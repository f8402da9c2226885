"""Statements and their brace blocks, found on masked code (see `lexer.mask`).

`Blocks` knows, for every line, the bracket depth at its start and end and whether a `{` opens on
it. `definitions` walks the statements that start at one depth, asks a language's classifier
whether each is a definition, and returns their spans; decorators and comment blocks right above
a definition are included in it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from services.search.chunkers.spans import Span

_BRACKETS = re.compile(r"[{}()\[\]]")
_OPEN = frozenset("{([")
# A line ending like this, or a next line starting like this, continues the statement.
_CONTINUES_AFTER = ("=", ",", "(", "[", "{", "+", "-", "*", "/", "&", "|", "?", ":", ".", "=>", "->")
_CONTINUES_BEFORE = ("{", ".", "?", ":", "+", "-", "*", "/", "&", "|", "=", ")", "]")


# Called with the masked code of a statement's first line (stripped) and of the whole statement.
Classifier = Callable[[str, str], "Header | None"]


@dataclass(frozen=True, slots=True)
class Header:
    """What a classifier says a statement defines."""

    kind: str  # function | class
    symbol: str
    members: Classifier | None = None  # finds the members of a large class (None: never split)


class Blocks:
    def __init__(self, source_lines: list[str], masked_text: str) -> None:
        self.source = source_lines
        self.code = masked_text.split("\n")[: len(source_lines)]
        self.start_depth: list[int] = []
        self.end_depth: list[int] = []
        self.opens_block: list[bool] = []
        depth = 0
        for line in self.code:
            self.start_depth.append(depth)
            opens = False
            for bracket in _BRACKETS.findall(line):
                if bracket in _OPEN:
                    depth += 1
                    opens = opens or bracket == "{"
                elif depth > 0:
                    depth -= 1
            self.end_depth.append(depth)
            self.opens_block.append(opens)

    def __len__(self) -> int:
        return len(self.code)

    def line(self, number: int) -> str:
        """Masked code of a 1-based line."""
        return self.code[number - 1]

    def statement_end(self, first: int, last: int, depth: int) -> int | None:
        """Last line of the statement starting on `first` at `depth` (None: not found by `last`).

        It ends where the depth is back to `depth` after a block closed, at a `;`, or on a line
        that neither ends nor is followed by something that continues an expression.
        """
        seen_block = False
        for n in range(first, last + 1):
            i = n - 1
            seen_block = seen_block or self.opens_block[i]
            if self.end_depth[i] > depth:
                continue
            tail = self.code[i].rstrip()
            if seen_block or tail.endswith(";") or not self._continues(n, last):
                return n
        return None

    def _continues(self, n: int, last: int) -> bool:
        tail = self.code[n - 1].rstrip()
        if not tail or tail.endswith(_CONTINUES_AFTER):
            return True
        for m in range(n + 1, last + 1):
            head = self.code[m - 1].lstrip()
            if head:
                return head.startswith(_CONTINUES_BEFORE)
        return False

    def definitions(
        self, first: int, last: int, depth: int, classify: Classifier
    ) -> list[tuple[Span, Header]]:
        """Definitions among the statements starting at `depth` in lines first..last, in order."""
        found: list[tuple[Span, Header]] = []
        floor = first - 1  # last line already taken by a statement
        decorator_start = 0
        n = first
        while n <= last:
            head = self.code[n - 1].strip()
            if not head or self.start_depth[n - 1] != depth:
                n += 1
                continue
            if head.startswith(("@", "#[")):
                end = self.statement_end(n, last, depth) or n
                decorator_start = decorator_start or n
                n = end + 1
                continue
            end = self.statement_end(n, last, depth)
            header = None if end is None else classify(head, "\n".join(self.code[n - 1 : end]))
            if header is None or end is None:
                decorator_start = 0
                n = (end or n) + 1
                continue
            start = self._with_comments(decorator_start or n, floor)
            found.append((Span(start, end, header.kind, header.symbol), header))
            floor = end
            decorator_start = 0
            n = end + 1
        return found

    def _with_comments(self, start: int, floor: int) -> int:
        """Move `start` up over the comment lines right above it (no blank line between)."""
        while start - 1 > floor:
            i = start - 2
            if self.code[i].strip() or not self.source[i].strip():
                break
            start -= 1
        return start
