"""What kind of file a path names: source, test, docs, example, changelog, config or generated.

Judged from the path alone (relative to the repository root), first match wins in that order:
generated, changelog, test, docs, example, config; anything else is source.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

FILE_KINDS = ("source", "test", "docs", "example", "changelog", "config", "generated")

_GENERATED_DIRS = {"generated", "__generated__", "gen", "migrations"}
_GENERATED_NAME = re.compile(
    r"(_pb2(_grpc)?\.py|\.pb\.go|\.pb\.(cc|h)|_generated\.\w+|\.generated\.\w+|\.g\.dart)$"
)
_CHANGELOG_STEMS = {"changelog", "changes", "history", "news", "releases", "release-notes", "release_notes"}
_TEST_DIRS = {
    "test",
    "tests",
    "testing",
    "__tests__",
    "__mocks__",
    "spec",
    "specs",
    "e2e",
    "testdata",
    "fixtures",
}
_TEST_NAME = re.compile(
    r"^(test_.*\.py|.*_test\.py|tests?\.py|conftest\.py|.*_test\.go|.*\.(test|spec)\.[cm]?[jt]sx?"
    r"|.*Tests?\.(java|kt|cs|scala|swift)|.*_spec\.rb|.*_test\.(rb|rs|cc|cpp|c|exs?))$"
)
_DOC_DIRS = {"doc", "docs", "documentation"}
_DOC_EXTENSIONS = {".md", ".markdown", ".rst", ".txt", ".adoc", ".rdoc"}
_DOC_STEMS = {"readme", "license", "licence", "contributing", "authors", "code_of_conduct", "security"}
_EXAMPLE_DIRS = {"example", "examples", "sample", "samples", "demo", "demos"}
_CONFIG_EXTENSIONS = {
    ".yaml",
    ".yml",
    ".toml",
    ".json",
    ".jsonc",
    ".ini",
    ".cfg",
    ".conf",
    ".env",
    ".properties",
}
_CONFIG_NAMES = {
    "dockerfile",
    "containerfile",
    "makefile",
    "gnumakefile",
    "setup.py",
    "noxfile.py",
    "manage.py",
}
_CONFIG_NAME = re.compile(r".*\.config\.[cm]?[jt]s$|^\..*rc(\.[cm]?js)?$")


def file_kind(path: str) -> str:
    """The kind of the file at `path` ("acme/tests/test_cache.py" -> "test")."""
    pure = PurePosixPath(path)
    dirs = {part.lower() for part in pure.parts[:-1]}
    name, lower = pure.name, pure.name.lower()
    stem, suffix = PurePosixPath(lower).stem, pure.suffix.lower()
    if dirs & _GENERATED_DIRS or _GENERATED_NAME.search(name):
        return "generated"
    prose = suffix in _DOC_EXTENSIONS or not suffix
    if (prose and stem in _CHANGELOG_STEMS) or dirs & {"changelog", "changelog.d", "newsfragments"}:
        return "changelog"
    if dirs & _TEST_DIRS or _TEST_NAME.match(name):
        return "test"
    if dirs & _DOC_DIRS or suffix in _DOC_EXTENSIONS or (prose and stem in _DOC_STEMS):
        return "docs"
    if dirs & _EXAMPLE_DIRS:
        return "example"
    if suffix in _CONFIG_EXTENSIONS or lower in _CONFIG_NAMES or _CONFIG_NAME.match(lower):
        return "config"
    return "source"
