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
# Without semicolons, a line ending like this, or a next line starting like this, continues the statement.
_CONTINUES_AFTER = ("=", ",", "(", "[", "{", "+", "-", "*", "/", "&", "|", "?", ":", ".", "=>", "->")
_CONTINUES_BEFORE = re.compile(r"[{.?:+\-*/&|=)\]]|(?:extends|implements|throws|where|with)\b")
_DIRECTIVE = ("#", "<?", "?>")  # preprocessor lines and PHP tags stand alone even where `;` ends statements

# Called with the masked code of a statement's first line (stripped) and of the whole statement.
Classifier = Callable[[str, str], "Header | None"]


@dataclass(frozen=True, slots=True)
class Header:
    """What a classifier says a statement defines."""

    kind: str  # function | class
    symbol: str
    members: Classifier | None = None  # finds the members of a large class (None: never split)


class Blocks:
    def __init__(self, source_lines: list[str], masked_text: str, semicolons: bool) -> None:
        """`semicolons`: statements end only at `;` or a closed block (Java, C, Rust...), not at
        a line break (JavaScript, Go, Kotlin...)."""
        self.source = source_lines
        self.code = masked_text.split("\n")[: len(source_lines)]
        self.semicolons = semicolons
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

    def statement_end(self, first: int, last: int, depth: int) -> int | None:
        """Last line of the statement starting on `first` at `depth` (None: not found by `last`).

        It ends where the depth is back to `depth` after a block closed, at a `;`, or (without
        semicolons) on a line that neither ends nor is followed by something that continues it.
        """
        if self.semicolons and self.code[first - 1].lstrip().startswith(_DIRECTIVE):
            n = first
            while n < last and self.code[n - 1].rstrip().endswith("\\"):
                n += 1
            return n
        seen_block = False
        for n in range(first, last + 1):
            i = n - 1
            seen_block = seen_block or self.opens_block[i]
            if self.end_depth[i] > depth:
                continue
            if seen_block or self.code[i].rstrip().endswith(";"):
                return n
            if not self.semicolons and not self._continues(n, last):
                return n
        return None

    def _continues(self, n: int, last: int) -> bool:
        tail = self.code[n - 1].rstrip()
        if not tail or tail.endswith(_CONTINUES_AFTER):
            return True
        for m in range(n + 1, last + 1):
            head = self.code[m - 1].lstrip()
            if head:
                return _CONTINUES_BEFORE.match(head) is not None
        return False

    def _line_end(self, first: int, last: int, depth: int) -> int:
        """Last line of a one-line construct (a decorator) whose brackets may span lines."""
        n = first
        while n < last and self.end_depth[n - 1] > depth:
            n += 1
        return n

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
                decorator_start = decorator_start or n
                n = self._line_end(n, last, depth) + 1
                continue
            end = self.statement_end(n, last, depth)
            if end is None:  # no later statement at this depth can end either
                break
            header = classify(head, "\n".join(self.code[n - 1 : end]))
            if header is None:
                decorator_start = 0
                n = end + 1
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
