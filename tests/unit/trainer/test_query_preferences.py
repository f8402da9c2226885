"""A linear ranker learns a preference that depends on the question through the query x file-kind
crosses: users click the test on "how do I use" questions and the source on "where is" ones."""

from __future__ import annotations

import random

import pytest

from services.trainer.combiner import fit_combiner, prepare
from shared.combiner import Combiner
from shared.ranking import served_order
from shared.schemas import Triplet
from tests.unit.trainer.click_world import CANDIDATES, WORDS, candidate, search_in

STYLES = ("how do I use the {a} {b} step {n}", "where is the {a} {b} step {n} implemented")


def two_styles(queries: int, seed: int):
    """(triplets, lists): how-to questions click the test chunk, where-questions the best source one.

    The test chunk sits in fusion's top 5 (it names what is asked about too, as in a real index),
    so on where-questions it often outranks the source the users want.
    """
    rng = random.Random(seed)
    triplets, lists = [], {}
    for q in range(queries):
        style = q % 2
        query = STYLES[style].format(a=rng.choice(WORDS), b=rng.choice(WORDS), n=f"{seed}-{q}")
        test_at = rng.randrange(5)
        found = [candidate(q, r, r == test_at, seed) for r in range(CANDIDATES)]
        lists[query] = found
        at = test_at if style == 0 else next(r for r in range(CANDIDATES) if r != test_at)
        triplets.append(
            Triplet(
                query=query,
                positive_text=found[at].text,
                positive_doc_id=found[at].doc_id,
                negative_texts=[c.text for c in found[:at]],
                negative_doc_ids=[c.doc_id for c in found[:at]],
                source="logs",
                repo="demo",
            )
        )
    return triplets, lists


@pytest.mark.parametrize("kind", ["logistic", "lambdamart"])
def test_the_kind_of_file_served_first_follows_the_question(tmp_path, kind):
    triplets, lists = two_styles(60, seed=0)
    section = fit_combiner(prepare(triplets, search_in(lists), 20), tmp_path, ce_dir=None, setting=kind)
    combiner = Combiner(tmp_path)
    _, new = two_styles(30, seed=1)  # queries and chunks it never saw
    for query, cands in new.items():
        first = cands[served_order(query, cands, 20, combiner=combiner)[0][0]]
        assert first.path.startswith("tests/") == query.startswith("how"), (query, first.path)
    crosses = sum(share for name, share in section["importances"].items() if "_x_file_" in name)
    if kind == "logistic":  # a linear model has no other way to tell the two styles apart
        assert crosses > 0.05
