"""Users who want different answers get them: one train run on a population's clicks, then new
questions about functions never trained on are served with the kind of file that population
clicks. Real index (the ONNX embedder, BM25, fusion), real combiner fit as a train job runs it."""

from __future__ import annotations

import numpy as np
import pytest

from services.evaluator.comparison import compare
from services.search.embedding import Embedder
from services.search.export_embedder import ensure_embedder
from services.search.indexer import index_repository
from services.trainer.combiner import fit_combiner, prepare
from shared.combiner import Combiner
from shared.ranking import served_order
from shared.settings import settings
from tests.preference_world import clicks, halves, index_search, judged_questions, write_repository

pytestmark = pytest.mark.slow
TOP_N = 20


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("toolkit")
    functions = write_repository(root, seed=0)
    embedder = Embedder(ensure_embedder(settings().cache_dir), quantized=True)
    index, _ = index_repository(root, "toolkit", None, embedder)
    return functions, index_search(index, embedder)


def trained(world, population, directory):
    functions, search = world
    train, _ = halves(functions)
    directory.mkdir()
    prepared = prepare(clicks(train, population, search, TOP_N), search, TOP_N)
    section = fit_combiner(prepared, directory, ce_dir=None)
    return section, Combiner(directory)


def served(combiner, world, questions):
    _, search = world
    found = [search(q.q, q.repo, TOP_N) for q in questions]
    rankers = {
        "fusion": lambda q, c: list(range(len(c))),
        "combiner": lambda q, c: [i for i, _ in served_order(q, c, TOP_N, combiner=combiner)],
    }
    return compare(questions, found, rankers)


def first_is_wanted(comparison, name):
    return float(np.mean([rank == 1 for rank in comparison.evaluations[name].first_relevant_ranks]))


def test_how_to_questions_are_served_with_the_kind_of_file_each_population_clicks(world, tmp_path):
    _, held_out = halves(world[0])
    tests_section, tests_combiner = trained(world, "tests", tmp_path / "tests")
    source_section, source_combiner = trained(world, "source", tmp_path / "source")
    assert tests_section["groups"]["logs"] >= 40 and source_section["groups"]["logs"] >= 40

    # Users who want the test or the example of a function they ask how to use.
    wants_tests = served(tests_combiner, world, judged_questions(held_out, "tests"))
    gain = wants_tests.interval("combiner", "fusion")
    assert gain.mean >= 0.05 and gain.low > 0, gain
    assert first_is_wanted(wants_tests, "combiner") >= 0.8
    assert first_is_wanted(wants_tests, "combiner") > first_is_wanted(wants_tests, "fusion")

    # The same questions, users who want the source.
    wants_source = served(source_combiner, world, judged_questions(held_out, "source"))
    gain = wants_source.interval("combiner", "fusion")
    assert gain.mean >= 0.05 and gain.low > 0, gain
    assert first_is_wanted(wants_source, "combiner") >= 0.8

    # What each learned comes from the query and the file together, not the file alone.
    for section in (tests_section, source_section):
        shares = section["importances"]
        assert sum(v for k, v in shares.items() if "_x_file_" in k) > 0.02
