"""bench/learning.py's user populations and the golden files they read."""

import importlib.util
from pathlib import Path

import pytest

from bench.learning import LIBRARY_SUBSETS, UserQuestion, derived_tests, population, read_questions
from bench.search import library_filter
from shared.golden import normalise

pytestmark = pytest.mark.slow  # importing the bench loads torch and transformers

ROOT = Path(__file__).resolve().parents[2]


def test_every_sklearn_golden_path_is_a_file_of_the_benched_subset():
    name, questions = read_questions(ROOT / "bench/golden_sklearn.json", None)
    source = Path(next(iter(importlib.util.find_spec("sklearn").submodule_search_locations))).parent
    assert name == "sklearn" and len(questions) >= 40
    for question in questions:
        assert question.expect_tests, question.q
        for path in [*question.expect_paths, *question.expect_tests]:
            assert (source / path).is_file(), path
            assert path.removeprefix("sklearn/").startswith(LIBRARY_SUBSETS["sklearn"]), path
        # an implementation path never matches its tests, or source users would click tests
        assert not any(p in t for p in question.expect_paths for t in question.expect_tests), question.q


def test_every_transformers_golden_question_has_an_answer_in_the_benched_subset():
    name, questions = read_questions(ROOT / "bench/golden_transformers.json", None)
    root = Path(next(iter(importlib.util.find_spec("transformers").submodule_search_locations)))
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.py"))
    indexed = library_filter("transformers")
    benched = [f for f in files if indexed(f)]
    assert name == "transformers" and len(questions) >= 150
    assert len({normalise(q.q) for q in questions}) == len(questions)  # no question twice
    for question in questions:
        # every expected path names a file of the package; at least one a file that is indexed
        for expected in question.expect_paths:
            assert any(expected in f for f in files), (question.q, expected)
        assert any(e in f for e in question.expect_paths for f in benched), question.q


def test_populations_ask_for_implementations_tests_or_half_of_each():
    indexed = [
        "shared/bus.py",
        "tests/unit/shared/test_bus.py",
        "tests/unit/gateway/test_busy.py",
        "docs/x.md",
    ]
    with_tests = [UserQuestion(f"how does the bus reconnect {i}?", "r", ["shared/bus.py"]) for i in range(40)]
    without = UserQuestion("where is the page styled?", "r", ["static/app.css"])
    explicit = UserQuestion(
        "how do I encode labels?", "r", ["sklearn/preprocessing/_label.py"], ["t.py"], ["e.md"]
    )
    questions = [*with_tests, without, explicit]

    assert derived_tests(with_tests[0], indexed) == ["tests/unit/shared/test_bus.py"]
    source, left_out = population(questions, "source", indexed)
    assert left_out == 0 and [q.expect_paths for q in source[-2:]] == [
        ["static/app.css"],
        explicit.expect_paths,
    ]
    tests, left_out = population(questions, "tests", indexed)
    assert left_out == 1 and len(tests) == 41
    assert tests[0].expect_paths == ["tests/unit/shared/test_bus.py"] and tests[-1].expect_paths == [
        "t.py",
        "e.md",
    ]
    mixed, _ = population(questions, "mixed", indexed)
    wanting_tests = sum(q.expect_paths == ["tests/unit/shared/test_bus.py"] for q in mixed)
    assert 10 < wanting_tests < 30  # about half, by the stable hash
    assert mixed == population(questions, "mixed", indexed)[0]


def test_ablation_zeroes_the_named_columns_and_refuses_a_prefix_that_names_none():
    from bench.ablation import zeroed
    from shared.features import CONSENSUS, FEATURES

    assert [FEATURES[i] for i in zeroed(("same_",))] == list(CONSENSUS)
    assert {FEATURES[i] for i in zeroed(("same_file_first", "query_how"))} >= {"same_file_first", "query_how"}
    with pytest.raises(SystemExit, match=r"--zero: no feature column starts with nope_"):
        zeroed(("nope_",))
