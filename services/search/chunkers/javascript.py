"""What JavaScript and TypeScript statements define (classifiers for `blocks.Blocks.definitions`)."""

from __future__ import annotations

import re

from services.search.chunkers.blocks import Header

_EXPORT = r"(?:export\s+(?:default\s+)?)?(?:declare\s+)?"
_FUNCTION = re.compile(_EXPORT + r"(?:async\s+)?function\b\s*\*?\s*([\w$]*)")
_CLASS = re.compile(_EXPORT + r"(?:abstract\s+)?class\b\s*([\w$]*)")
_INTERFACE = re.compile(_EXPORT + r"interface\s+([\w$]+)")
_TYPE = re.compile(_EXPORT + r"(?:(?:const\s+)?enum|type)\s+([\w$]+)")
_NAMESPACE = re.compile(_EXPORT + r"(?:namespace|module)\s+([\w$.]*)\s*\{")
# const f = (...) => ..., = async x => ..., = function, = memo((...) => ...), = <T,>(...) => ...
_VARIABLE_FUNCTION = re.compile(
    _EXPORT + r"(?:const|let|var)\s+([\w$]+)[^=]*=\s*(?:[\w$.]+\()?\s*"
    r"(?:async\b\s*)?(?:function\b|\(|[\w$]+\s*=>|<)"
)
_VARIABLE_CLASS = re.compile(_EXPORT + r"(?:const|let|var)\s+([\w$]+)[^=]*=\s*class\b")
# exports.f = function ..., Foo.prototype.bar = (...) => ...
_ASSIGNED_FUNCTION = re.compile(r"((?:[\w$]+\.)+[\w$]+)\s*=\s*(?:async\b\s*)?(?:function\b|\(|[\w$]+\s*=>)")

_MODIFIERS = (
    r"(?:(?:public|private|protected|static|readonly|abstract|override|async|declare|accessor|get|set)\s+)*"
)
_METHOD = re.compile(_MODIFIERS + r"\*?\s*(#?[\w$]+)\s*[?!]?\s*(?:<[^>]*>)?\s*\(")
_FIELD_FUNCTION = re.compile(
    _MODIFIERS + r"(#?[\w$]+)\s*[?!]?\s*(?::[^=]*)?=\s*(?:async\b\s*)?(?:function\b|\(|[\w$]+\s*=>)"
)
_NOT_NAMES = frozenset({"extends", "implements", ""})


def _is_function(statement: str) -> bool:
    return "=>" in statement or re.search(r"\bfunction\b", statement) is not None


def classify(head: str, statement: str) -> Header | None:
    """A top-level (or namespace-level) JS/TS statement: function, class, type, or None."""
    if m := _FUNCTION.match(head):
        return Header("function", m.group(1) or "default")
    if m := _CLASS.match(head):
        name = m.group(1)
        return Header("class", "default" if name in _NOT_NAMES else name, members=classify_member)
    if m := _INTERFACE.match(head):
        return Header("class", m.group(1), members=classify_member)
    if m := _TYPE.match(head):
        return Header("class", m.group(1))
    if m := _NAMESPACE.match(head):
        return Header("class", m.group(1), members=classify)
    if m := _VARIABLE_CLASS.match(head):
        return Header("class", m.group(1), members=classify_member)
    for pattern in (_VARIABLE_FUNCTION, _ASSIGNED_FUNCTION):
        if (m := pattern.match(head)) and _is_function(statement):
            return Header("function", m.group(1))
    return None


def classify_member(head: str, statement: str) -> Header | None:
    """A statement in a class body: a method, an arrow-function field, or None (a plain field)."""
    if m := _METHOD.match(head):
        return Header("function", m.group(1))
    if (m := _FIELD_FUNCTION.match(head)) and _is_function(statement):
        return Header("function", m.group(1))
    return None
