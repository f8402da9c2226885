"""Python chunking by `ast`: functions, classes (split per method when large) and module code."""

from __future__ import annotations

import ast

from services.search.chunkers.spans import CLASS_MAX_LINES, Span, fill_gaps

_Def = ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef


def python_spans(text: str, lines: list[str]) -> list[Span] | None:
    """Spans of a Python file, or None when it does not parse (the caller falls back to windows).

    Also None when a lone carriage return would make `ast` count lines differently.
    """
    if "\r" in text.replace("\r\n", ""):
        return None
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    defs: list[Span] = []
    floor = 0
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            defs.append(Span(_start(node, lines, floor), _end(node), "function", node.name))
        elif isinstance(node, ast.ClassDef):
            defs.extend(_class_spans(node, lines, floor))
        floor = _end(node)
    return fill_gaps(defs, 1, len(lines), "module")


def _class_spans(node: ast.ClassDef, lines: list[str], floor: int) -> list[Span]:
    start, end = _start(node, lines, floor), _end(node)
    if end - start + 1 <= CLASS_MAX_LINES:
        return [Span(start, end, "class", node.name)]
    members: list[Span] = []
    member_floor = node.lineno
    for item in node.body:
        if isinstance(item, _Def):
            kind = "class" if isinstance(item, ast.ClassDef) else "method"
            members.append(
                Span(_start(item, lines, member_floor), _end(item), kind, f"{node.name}.{item.name}")
            )
        member_floor = _end(item)
    # The class line, its docstring and attributes (and any code between methods) are class chunks.
    return fill_gaps(members, start, end, "class", node.name)


def _start(node: _Def, lines: list[str], floor: int) -> int:
    """First line of a definition: its first decorator, or a comment block right above it."""
    start = min([d.lineno for d in node.decorator_list] + [node.lineno])
    while start - 1 > floor:
        above = lines[start - 2]
        stripped = above.lstrip()
        if not stripped.startswith("#") or len(above) - len(stripped) != node.col_offset:
            break
        start -= 1
    return start


def _end(node: ast.stmt) -> int:
    return node.end_lineno or node.lineno
