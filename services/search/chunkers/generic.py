"""What a statement of another brace language defines: a heuristic for Go, Java, Kotlin, Rust,
C, C++, C#, PHP, Swift and Scala.

A statement with a `{` block is a class when a class-like keyword names it (class, struct,
interface, enum, trait, impl, object, record, namespace, mod, ...), a function when a `(` comes
before its block (and no `=` before that), and anything else is module code.
"""

from __future__ import annotations

import re

from services.search.chunkers.blocks import Header

_CONTAINER = re.compile(
    r"\b(class|struct|interface|enum|trait|impl|object|record|namespace|mod|module|union|protocol|extension"
    r"|extern)\b"
)
# Keywords whose name may be followed directly by a primary constructor: class Point(val x: Int) {
_CONSTRUCTOR = re.compile(r"\b(?:class|record|object|enum|interface|trait)\s+[\w$]+\s*(?:<[^>]*>)?\s*\(")
_CONTAINER_NAME = re.compile(
    r"\b(?:class|struct|interface|enum|trait|object|record|namespace|mod|module|union|protocol|extension)"
    r"\s+([\w$][\w$.:]*)"
)
_GO_TYPE = re.compile(r"type\s+(\w+)")
_TYPEDEF_NAME = re.compile(r"\}\s*\*?\s*(\w+)\s*[,;]")  # typedef struct { ... } Name;
_RUST_IMPL = re.compile(r"\bimpl\b\s*(?:<[^{]*?>)?\s*([\w:]+)(?:<[^{]*?>)?(?:\s+for\s+([\w:]+))?")
_GO_FUNC = re.compile(r"func\s*(?:\(\s*\w*\s*\*?\s*(\w+)[^)]*\)\s*)?(\w+)")
_GENERICS = re.compile(r"<[^<>]*>")
_LAST_NAME = re.compile(r"([A-Za-z_~$][\w$]*(?:(?:::|\.)~?[A-Za-z_$][\w$]*)*)\s*$")
_CONTROL = re.compile(
    r"(?:\}\s*)?(?:if|else|for|foreach|while|do|switch|try|catch|finally|return|match|when|case|defer|go"
    r"|select|unsafe|loop|synchronized|using|lock|fixed|checked|unchecked)\b"
)


def classify(head: str, statement: str) -> Header | None:
    """A class-like, a function, or None; the members of a large class are classified the same way."""
    brace = statement.find("{")
    if brace < 0 or _CONTROL.match(head):
        return None
    header = " ".join(statement[:brace].split())
    paren = header.find("(")
    if _CONTAINER.search(header) and (paren < 0 or _CONSTRUCTOR.search(header)):
        return Header("class", _container_name(header, statement), members=classify)
    if paren < 0 or "=" in header[:paren].replace("==", ""):
        return None
    if m := _GO_FUNC.match(header):
        return Header("function", f"{m.group(1)}.{m.group(2)}" if m.group(1) else m.group(2))
    before = header[:paren]
    for _ in range(3):
        before = _GENERICS.sub("", before)
    m = _LAST_NAME.search(before)
    return Header("function", m.group(1)) if m else None


def _container_name(header: str, statement: str) -> str:
    if header.startswith("typedef") and (m := _TYPEDEF_NAME.search(statement)):
        return m.group(1)
    if m := _GO_TYPE.match(header):
        return m.group(1)
    if m := _RUST_IMPL.search(header):
        return m.group(2) or m.group(1)
    m = _CONTAINER_NAME.search(header)
    return m.group(1) if m else ""
