"""Users who want different kinds of answer, on a repository that has every kind for each function.

`write_repository(root, seed)` generates a small Python package from a template: for each of its
functions (verb x object names drawn by the seed, `toolkit/<name>.py` with a docstring and a body),
a test module that calls it (`tests/test_<name>.py`), an example script (`examples/<name>_demo.py`)
and a documentation page (`docs/<name>.md`), each phrased from a few templates chosen by the seed.
Every function can thus be answered by its source, its test, its example or its page.

Questions about a function come in two styles, each worded from several templates: "how do I use
X" (`HOW_TO`) and "where is X" (`LOCATE`). A population of simulated users says which kinds of
file it clicks for each style (`POPULATIONS`): "tests" users want the test or the example on
how-to questions and the source when they ask where something is; "source" users want the source
on both. A user sees the fusion top N, clicks the first chunk of the asked function's file of a
wanted kind and skips what was shown above it, as the feedback-log miner records clicks
(source "logs", skipped results as negatives); a user who sees no wanted chunk clicks nothing.

Functions are split in two halves by the seed: clicks are simulated on the first half's
questions, and the second half's how-to questions (functions, wordings and files never trained
on) are what a combiner is judged on.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shared.schemas import Candidate, GoldenQuestion, Triplet

VERBS = (
    "parse", "merge", "render", "split", "encode", "decode", "resolve", "normalise", "compress",
    "validate", "schedule", "rotate", "flatten", "summarise", "throttle", "hash", "format", "migrate",
)  # fmt: skip
OBJECTS = (
    "header", "range", "invoice", "timestamp", "matrix", "route", "token", "cookie", "manifest",
    "queue", "graph", "payload", "snapshot", "vector", "ledger", "batch", "locale", "checksum",
)  # fmt: skip
HOW_TO = (
    "how do I use {name}",
    "how to call {verb} {object}",
    "how can I {verb} a {object} with toolkit",
    "how do I {verb} {object}s",
)
LOCATE = (
    "where is {name} implemented",
    "where does the code {verb} the {object}",
    "where is the {object} {verb} logic",
    "where is {name} defined",
)
STYLES = {"how_to": HOW_TO, "locate": LOCATE}
POPULATIONS = {  # population -> style -> kinds of file its users click
    "tests": {"how_to": ("test", "example"), "locate": ("source",)},
    "source": {"how_to": ("source",), "locate": ("source",)},
}
PATHS = {  # kind of file -> its path for a function
    "source": "toolkit/{name}.py",
    "test": "tests/test_{name}.py",
    "example": "examples/{name}_demo.py",
    "docs": "docs/{name}.md",
}

_SOURCE = (
    '''"""{Object} helpers."""


def {name}({object}, *, strict=False):
    """{Verb} a {object} and return the result.

    With strict, a {object} that cannot be handled raises ValueError.
    """
    if {object} is None:
        if strict:
            raise ValueError("{name}: no {object}")
        return None
    parts = [piece for piece in str({object}).split("{sep}") if piece]
    return "{sep}".join(sorted(parts, reverse={reverse}))
''',
    '''"""Working with {object}s."""

_CACHE = {{}}


def {name}({object}, limit={limit}):
    """{Verb} the given {object}, at most `limit` parts of it."""
    key = ({object}, limit)
    if key not in _CACHE:
        values = list(str({object}))[:limit]
        _CACHE[key] = "".join(reversed(values)) if {reverse} else "".join(values)
    return _CACHE[key]
''',
)
_TEST = (
    """import pytest

from toolkit.{name} import {name}


def test_{name}_orders_the_parts():
    assert {name}("b{sep}a", strict=True) is not None


def test_{name}_refuses_nothing_when_strict():
    with pytest.raises(ValueError):
        {name}(None, strict=True)
""",
    """from toolkit.{name} import {name}


def test_{name}_keeps_at_most_limit_parts():
    result = {name}("abcdef", limit=3)
    assert len(result) == 3


def test_{name}_is_cached():
    assert {name}("xyz") == {name}("xyz")
""",
)
_EXAMPLE = (
    '''"""Calling {name} from a script."""

from toolkit.{name} import {name}

if __name__ == "__main__":
    value = {name}("first{sep}second{sep}third")
    print("result:", value)
''',
    '''"""A short session with {name}."""

from toolkit.{name} import {name}


def main():
    for sample in ("alpha", "beta", "gamma"):
        print(sample, "->", {name}(sample, limit=2))


main()
''',
)
_DOCS = (
    """# {Verb} {object}s

`toolkit.{name}` takes a {object} and gives back the {verb}d form. Pass `strict=True` to get a
ValueError instead of None when there is nothing to work on.
""",
    """# The {object} {verb} step

`{name}` reads at most `limit` parts of a {object}. Results are cached per ({object}, limit), so
repeated calls cost nothing.
""",
)


@dataclass(frozen=True)
class Function:
    name: str
    verb: str
    object: str
    variant: int  # which template family its files come from

    def path(self, kind: str) -> str:
        return PATHS[kind].format(name=self.name)

    def question(self, style: str, wording: int) -> str:
        return STYLES[style][wording % len(STYLES[style])].format(
            name=self.name, verb=self.verb, object=self.object
        )


def write_repository(root: Path, seed: int, functions: int = 32) -> list[Function]:
    """The package's files under `root`; returns its functions in a seeded order."""
    rng = random.Random(seed)
    pairs = rng.sample([(v, o) for v in VERBS for o in OBJECTS], functions)
    made = []
    for verb, obj in pairs:
        function = Function(f"{verb}_{obj}", verb, obj, rng.randrange(2))
        fields = {
            "name": function.name, "verb": verb, "Verb": verb.capitalize(), "object": obj,
            "Object": obj.capitalize(), "sep": rng.choice(",;:|"), "reverse": rng.choice([True, False]),
            "limit": rng.randrange(4, 40),
        }  # fmt: skip
        for kind, templates in (("source", _SOURCE), ("test", _TEST), ("example", _EXAMPLE), ("docs", _DOCS)):
            path = root / function.path(kind)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(templates[function.variant].format(**fields))
        made.append(function)
    (root / "toolkit" / "__init__.py").write_text('"""toolkit: small helpers."""\n')
    (root / "README.md").write_text("# toolkit\n\nSmall helpers, one module per function.\n")
    return made


def halves(functions: Sequence[Function]) -> tuple[list[Function], list[Function]]:
    """(trained on, judged on)."""
    middle = len(functions) // 2
    return list(functions[:middle]), list(functions[middle:])


def wanted_paths(function: Function, population: str, style: str) -> tuple[str, ...]:
    return tuple(function.path(kind) for kind in POPULATIONS[population][style])


def clicks(
    functions: Sequence[Function],
    population: str,
    search,
    shown: int,
    wordings: int = 2,
    repo: str = "toolkit",
) -> list[Triplet]:
    """The triplets the miner would record from the population's clicks on every style's questions
    (`wordings` wordings each); `search` is a CandidateSearch (query, repo, k) -> fusion order."""
    triplets = []
    for i, function in enumerate(functions):
        for style in STYLES:
            for w in range(wordings):
                query = function.question(style, i + w)
                found = search(query, repo, shown)
                wanted = wanted_paths(function, population, style)
                at = next((r for r, c in enumerate(found) if c.path in wanted), None)
                if at is None:
                    continue
                skipped = found[:at]
                triplets.append(
                    Triplet(
                        query=query,
                        positive_text=found[at].text,
                        positive_doc_id=found[at].doc_id,
                        negative_texts=[c.text for c in skipped],
                        negative_doc_ids=[c.doc_id for c in skipped],
                        source="logs",
                        repo=repo,
                    )
                )
    return triplets


def judged_questions(
    functions: Sequence[Function], population: str, style: str = "how_to", repo: str = "toolkit"
) -> list[GoldenQuestion]:
    """One question per function (wordings in turn), relevant: the population's wanted files."""
    return [
        GoldenQuestion(
            q=f.question(style, i), repo=repo, expect_paths=list(wanted_paths(f, population, style))
        )
        for i, f in enumerate(functions)
    ]


def index_search(index, embedder, depth: int = 100):
    """A CandidateSearch over an in-process index: what `codesift.search.candidates` answers."""

    def search(query: str, repo: str | None, k: int) -> list[Candidate]:
        hits = index.retrieve(query, embedder.embed_query(query), k, repo=repo, depth=depth)
        return [
            Candidate(
                doc_id=(c := index.chunks[h.index]).doc_id, repo=c.repo, path=c.path,
                start_line=c.start_line, end_line=c.end_line, language=c.language, chunk_kind=c.kind,
                content_hash=c.content_hash, text=c.text, symbol=c.symbol, fusion_rank=h.fusion_rank,
                fusion_score=h.fusion_score, bm25_rank=h.bm25_rank, bm25_score=h.bm25_score,
                vector_rank=h.vector_rank, vector_score=h.vector_score, file_kind=index.file_kinds[h.index],
            )
            for h in hits
        ]  # fmt: skip

    return search
