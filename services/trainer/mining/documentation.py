"""A definition's own documentation: its docstring or leading comment, found and cut out of its code.

A chunk's text starts with the comment block right above its definition (the search chunkers
keep it), then decorators, then the definition. Documentation is found as whole lines so that
cutting it leaves the code intact:

- docstring: Python's first string statement of the definition body, or a `/** ... */` or
  `///` block at the start of the chunk (JSDoc, Javadoc, KDoc, rustdoc);
- comment: other comment lines at the start of the chunk (`#` where it is a comment, `//`,
  `/* ... */`).
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from dataclasses import dataclass

HASH_COMMENT_LANGUAGES = frozenset({"python", "ruby", "shell", "perl", "r", "php", "elixir"})
SLASH_COMMENT_FREE = frozenset({"python", "ruby", "shell", "perl", "r", "elixir"})

_DEF = re.compile(r"^\s*(?:async\s+def|def|class)\b")
_OPENING_QUOTE = re.compile(r"""^\s*[rRuU]?("{3}|'{3})""")
_OPENING_ANY_QUOTE = re.compile(r"""^\s*[rRuU]?["']""")
_PREAMBLE = re.compile(r"^\s*(#|@|$)")  # comments, decorators and blank lines above a definition


@dataclass(frozen=True, slots=True)
class Documentation:
    origin: str  # docstring | comment
    prose: str  # the text without comment markers or quotes, dedented
    first: int  # 0-based index of its first line in the chunk text
    last: int  # 0-based index of its last line (inclusive)


def find_documentation(text: str, language: str) -> list[Documentation]:
    """The chunk's docstring, then its leading comment, those that exist."""
    lines = text.split("\n")
    found = [_leading_comment(lines, language)]
    if language == "python":
        found.append(_python_docstring(text, lines))
    return sorted((d for d in found if d is not None), key=lambda d: d.origin != "docstring")


def cut(text: str, documentation: Documentation) -> str:
    """The chunk text without the documentation's lines."""
    lines = text.split("\n")
    return "\n".join(lines[: documentation.first] + lines[documentation.last + 1 :])


def _python_docstring(text: str, lines: list[str]) -> Documentation | None:
    try:
        tree = ast.parse(textwrap.dedent(text))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return _python_docstring_by_lines(lines)
    if not tree.body or not isinstance(tree.body[0], ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return None
    node = tree.body[0].body[0]
    if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
        return None
    if not isinstance(node.value.value, str) or node.end_lineno is None:
        return None
    first, last = node.lineno - 1, node.end_lineno - 1
    if not _OPENING_ANY_QUOTE.match(lines[first]) or not lines[last].rstrip().endswith(('"', "'")):
        return None  # shares a line with other code: cannot be cut as whole lines
    return Documentation("docstring", inspect.cleandoc(node.value.value), first, last)


def _python_docstring_by_lines(lines: list[str]) -> Documentation | None:
    """For a chunk that does not parse (a window of a long function): the string after the header."""
    header = next((i for i, line in enumerate(lines) if not _PREAMBLE.match(line)), None)
    if header is None or not _DEF.match(lines[header]):
        return None
    end = next((i for i in range(header, len(lines)) if _code_part(lines[i]).rstrip().endswith(":")), None)
    if end is None:
        return None
    first = next((i for i in range(end + 1, len(lines)) if lines[i].strip()), None)
    if first is None:
        return None
    opening = _OPENING_QUOTE.match(lines[first])
    if opening is None:
        return None
    quote = opening.group(1)
    rest = lines[first][opening.end() :]
    if quote in rest:
        last, body = first, [rest[: rest.index(quote)]]
    else:
        last = next((i for i in range(first + 1, len(lines)) if quote in lines[i]), None)
        if last is None:
            return None
        body = [rest, *lines[first + 1 : last], lines[last][: lines[last].index(quote)]]
    if lines[last].rstrip()[-3:] != quote:
        return None
    return Documentation("docstring", inspect.cleandoc("\n".join(body)), first, last)


def _code_part(line: str) -> str:
    return line.split("#", 1)[0] if "#" in line else line


def _leading_comment(lines: list[str], language: str) -> Documentation | None:
    stripped = [line.strip() for line in lines]
    if not stripped or not stripped[0]:
        return None
    head = stripped[0]
    if language not in SLASH_COMMENT_FREE and head.startswith("/*"):
        last = next((i for i, line in enumerate(stripped) if "*/" in (line[2:] if i == 0 else line)), None)
        if last is None or not stripped[last].endswith("*/"):
            return None  # unterminated, or code after it on its last line
        origin = "docstring" if head.startswith("/**") and not head.startswith("/**/") else "comment"
        return Documentation(origin, _block_prose(stripped[: last + 1]), 0, last)
    for marker, origin in (("///", "docstring"), ("//", "comment"), ("#", "comment")):
        if marker == "#" and language not in HASH_COMMENT_LANGUAGES:
            continue
        if marker != "#" and language in SLASH_COMMENT_FREE:
            continue
        if head.startswith(marker) and not (marker == "#" and head.startswith("#!")):
            count = 0
            while count < len(stripped) and stripped[count].startswith(marker):
                count += 1
            prose = "\n".join(line[len(marker) :].strip() for line in stripped[:count])
            return Documentation(origin, prose, 0, count - 1)
    return None


def _block_prose(lines: list[str]) -> str:
    out = []
    for line in lines:
        line = line.removeprefix("/**").removeprefix("/*").removesuffix("*/").strip()
        out.append(line.removeprefix("*").strip())
    return "\n".join(out).strip()
