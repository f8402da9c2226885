"""The unit of search: a chunk of a source file."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.fingerprints import content_hash


@dataclass(slots=True)
class SourceFile:
    path: str  # relative to the repository root, POSIX separators
    language: str  # python | javascript | typescript | markdown | rst | go | java | ... | text
    text: str


@dataclass(slots=True)
class Chunk:
    path: str  # relative to the repository root, POSIX separators
    start_line: int  # 1-based, inclusive
    end_line: int  # 1-based, inclusive
    text: str
    language: str
    kind: str  # function | class | method | module | doc_section | window
    symbol: str = ""  # qualified name when known ("Class.method"), else ""
    repo: str = ""  # filled in by the indexer
    content_hash: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.content_hash:
            self.content_hash = content_hash(self.text)

    @property
    def doc_id(self) -> str:
        return f"{self.path}:{self.start_line}-{self.end_line}"
