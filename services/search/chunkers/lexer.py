"""Blank out comments and string, template and regex literals of brace languages.

The masked text has the same length and the same newlines as the source, so positions and line
numbers still match; what is left is code whose brackets can be counted without being fooled
by a `{` in a string or a comment. Best effort: a mis-read literal stops at the end of its line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Syntax:
    """What starts a comment or a literal in one family of languages."""

    line_comments: tuple[str, ...] = ("//",)
    quote_strings: bool = False  # '...' is a string (JS, PHP); else a char literal ('a', '\n')
    backtick: str = ""  # "template" (JS `..${expr}..`), "raw" (Go), "" (not special)
    triple_quotes: bool = False  # """...""" spans lines (Java, Kotlin, Scala, Swift, C#)
    verbatim_at: bool = False  # C# @"..." spans lines, "" escapes a quote
    regex_literals: bool = False  # JS /.../flags


JS = Syntax(quote_strings=True, backtick="template", regex_literals=True)
C_LIKE = Syntax(triple_quotes=True, verbatim_at=True)
GO = Syntax(backtick="raw")
PHP = Syntax(line_comments=("//", "#"), quote_strings=True)

_DOUBLE = re.compile(r'"(?:[^"\\\n]|\\.)*"?', re.DOTALL)
_SINGLE = re.compile(r"'(?:[^'\\\n]|\\.)*'?", re.DOTALL)
_CHAR = re.compile(r"'(?:\\.[^'\n]{0,8}|[^\\'\n])'")
_VERBATIM = re.compile(r'"(?:[^"]|"")*"?')
_TEMPLATE_PART = re.compile(r"[`\\]|\$\{")
_REGEX_BODY = re.compile(r"/(?:[^/\\\[\n]|\\.|\[(?:[^\]\\\n]|\\.)*\])+/[A-Za-z]*")
_NOT_SPACE = re.compile(r"[^\n]")
# A `/` after one of these (or at the start) opens a regex literal; after an operand it divides.
_REGEX_AFTER_CHARS = frozenset("(,=:[!&|?{};+-*%~^<>")
_REGEX_AFTER_WORDS = frozenset(
    {
        "return",
        "typeof",
        "instanceof",
        "in",
        "of",
        "new",
        "delete",
        "void",
        "throw",
        "case",
        "do",
        "else",
        "yield",
        "await",
    }
)
_WORD_CHARS = re.compile(r"[\w$]+$")


def mask(text: str, syntax: Syntax) -> str:
    """`text` with comments and literals replaced by spaces (newlines kept)."""
    scanner = _Scanner(text, syntax)
    scanner.run()
    if not scanner.ranges:
        return text
    pieces: list[str] = []
    pos = 0
    for start, end in scanner.ranges:
        pieces.append(text[pos:start])
        pieces.append(_NOT_SPACE.sub(" ", text[start:end]))
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces)


def _match_end(pattern: re.Pattern[str], text: str, start: int) -> int:
    """End of a string literal opening at `start` (its pattern always matches the opening quote)."""
    m = pattern.match(text, start)
    return m.end() if m else start + 1


class _Scanner:
    def __init__(self, text: str, syntax: Syntax) -> None:
        self.text = text
        self.syntax = syntax
        self.ranges: list[tuple[int, int]] = []
        starts = [re.escape(c) for c in syntax.line_comments]
        starts += [r"/\*", '"', "'"]
        if syntax.triple_quotes:
            starts.insert(0, '"""')
        if syntax.backtick:
            starts.append("`")
        if syntax.regex_literals:
            starts.append("/")
        self.interesting = re.compile("|".join(starts))
        # Inside a template literal's ${...}: braces matter too.
        self.interesting_expr = re.compile("|".join([*starts, r"\{", r"\}"]))

    def run(self) -> None:
        text, i = self.text, 0
        while True:
            m = self.interesting.search(text, i)
            if m is None:
                return
            start = m.start()
            end = self._literal_end(m.group(), start)
            if end is None:
                i = start + 1
                continue
            self.ranges.append((start, end))
            i = end

    def _literal_end(self, token: str, start: int) -> int | None:
        """End of the comment or literal opening at `start`, or None when it opens none."""
        text = self.text
        if token in self.syntax.line_comments:
            newline = text.find("\n", start)
            return len(text) if newline < 0 else newline
        if token == "/*":
            close = text.find("*/", start + 2)
            return len(text) if close < 0 else close + 2
        if token == '"""':
            close = text.find('"""', start + 3)
            return len(text) if close < 0 else close + 3
        if token == '"':
            if self.syntax.verbatim_at and start > 0 and text[start - 1] == "@":
                return _match_end(_VERBATIM, text, start)
            return _match_end(_DOUBLE, text, start)
        if token == "'":
            if self.syntax.quote_strings:
                return _match_end(_SINGLE, text, start)
            m = _CHAR.match(text, start)
            return m.end() if m else None
        if token == "`":
            if self.syntax.backtick == "raw":
                close = text.find("`", start + 1)
                return len(text) if close < 0 else close + 1
            return self._template_end(start)
        if token == "/":
            if not self._regex_allowed(start):
                return None
            m = _REGEX_BODY.match(text, start)
            return m.end() if m else None
        return None

    def _template_end(self, start: int) -> int:
        """End of a template literal, stepping over the code (and nested literals) of ${...}."""
        text = self.text
        frames: list[int] = [-1]  # -1: in template text; n >= 0: brace depth inside ${...}
        i = start + 1
        while frames:
            pattern = _TEMPLATE_PART if frames[-1] < 0 else self.interesting_expr
            m = pattern.search(text, i)
            if m is None:
                return len(text)
            token, at = m.group(), m.start()
            i = m.end()
            if frames[-1] < 0:
                if token == "\\":
                    i += 1
                elif token == "`":
                    frames.pop()
                else:  # ${
                    frames.append(0)
            elif token == "{":
                frames[-1] += 1
            elif token == "}":
                if frames[-1] == 0:
                    frames.pop()
                else:
                    frames[-1] -= 1
            elif token == "`":
                frames.append(-1)
            else:
                end = self._literal_end(token, at)
                if end is not None:
                    i = end
        return i

    def _regex_allowed(self, at: int) -> bool:
        text = self.text
        j = at - 1
        while j >= 0 and text[j] in " \t\r\n":
            j -= 1
        if j < 0:
            return True
        before = text[j]
        if before == "<":  # JSX closing tag </div>
            return False
        if before in _REGEX_AFTER_CHARS:
            return True
        word = _WORD_CHARS.search(text, max(0, j - 15), j + 1)
        return word is not None and word.group() in _REGEX_AFTER_WORDS
