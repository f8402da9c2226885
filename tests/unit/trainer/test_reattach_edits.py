"""Labels survive a round of edits: a click on every chunk of a generated repository, 20% of its files
edited (lines inserted above definitions, renames, a moved file) and re-indexed by the search
service's indexer, then the feedback log mined with re-attachment (bench/edits.py runs it all and
tracks every line, so it knows where each chunk went)."""

from __future__ import annotations

import random
from pathlib import Path

from bench.edits import label_scenario

SEED = 7


def module(number: int) -> str:
    functions = "\n\n".join(
        f'''def step_{number}_{n}(value, scale={n + 1}):
    """Step {n} of pipeline {number}."""
    total = value * scale + {number}
    if total > {10 * n + number}:
        total -= {n}
    return ("body-{number}-{n}", total)
'''
        for n in range(4)
    )
    methods = "\n".join(
        f"""    def method_{n}(self, item):
        checked_{n} = self.check(item, {n})
        return checked_{n} + {number * 10 + n}
"""
        for n in range(16)
    )
    return f'"""Pipeline {number}."""\n\nimport math\n\n\n{functions}\n\nclass Stage{number}:\n{methods}'


def readme(number: int) -> str:
    sections = "\n".join(f"## Part {n}\n\nPart {n} of guide {number} says {n * number}.\n" for n in range(3))
    return f"# Guide {number}\n\nAbout pipeline {number}.\n\n{sections}"


def make_repository(root: Path) -> None:
    for number in range(40):
        (root / "pkg" / f"pipeline_{number}.py").parent.mkdir(parents=True, exist_ok=True)
        (root / "pkg" / f"pipeline_{number}.py").write_text(module(number))
    for number in range(10):
        (root / "docs").mkdir(exist_ok=True)
        (root / "docs" / f"guide_{number}.md").write_text(readme(number))


def test_at_least_95_percent_of_the_labels_land_on_the_right_chunk_after_editing_a_fifth_of_the_files(
    tmp_path: Path,
):
    make_repository(tmp_path)
    outcome, report = label_scenario(tmp_path, "fixture", random.Random(SEED), share=0.2)

    assert len(report.edited) == 10 and report.files == 50
    for kind in ("moved", "renamed", "lines inserted above", "comment inserted above"):
        assert report.counts.get(kind, 0) >= 1, report.counts
    # the chunker split the large classes per method, and the edits broke many doc ids
    assert outcome.labels > 600
    assert outcome.moved >= 40
    for rule in ("content_hash", "symbol", "overlap"):
        assert outcome.by_rule.get(rule, 0) >= 1, outcome.by_rule

    assert outcome.moved_right >= 0.95 * outcome.moved, outcome.wrong
    assert outcome.by_rule["intact"] == outcome.right_by_rule["intact"]  # untouched labels stay put
    # what mine_logs made of the log agrees: one triplet per label, on the truth's chunk
    assert outcome.mined == {rule: n for rule, n in outcome.by_rule.items() if n}
    assert outcome.triplets_right >= 0.95 * outcome.labels
