import hashlib
import json
import random
from pathlib import Path

import pytest

from services.trainer.mining.firewall import firewall, similarity, split_golden, split_record
from shared.schemas import GoldenQuestion, Triplet

GOLDEN = [
    GoldenQuestion(**q)
    for q in json.loads((Path(__file__).parents[2] / "fixtures/sample_golden.json").read_text())
]


def texts(questions: list[GoldenQuestion]) -> set[str]:
    return {q.q for q in questions}


def test_split_is_pinned_by_sha1_and_salt():
    # Pinned: a change here moves questions between sides of splits already recorded.
    train, held_out = split_golden(GOLDEN)
    assert texts(held_out) == {"how is an invoice total computed with tax"}
    assert texts(train) | texts(held_out) == texts(GOLDEN)
    assert len(train) + len(held_out) == len(GOLDEN)
    _, other_salt = split_golden(GOLDEN, salt="other")
    assert texts(other_salt) == {
        "how are passwords hashed before they are stored",
        "least recently used cache eviction",
        "search box component in the web ui",
        "how do I deploy the service",
        "api client that sends requests from the browser",
    }


def test_split_does_not_depend_on_order_or_on_the_other_questions():
    shuffled = GOLDEN[:]
    random.Random(3).shuffle(shuffled)
    for fraction in (0.3, 0.6):
        train, held_out = split_golden(GOLDEN, fraction)
        assert split_golden(shuffled, fraction) == (
            [q for q in shuffled if q in train],
            [q for q in shuffled if q in held_out],
        )
        alone = [split_golden([q], fraction)[1] == [q] for q in GOLDEN]
        assert alone == [q in held_out for q in GOLDEN]


def test_a_larger_fraction_only_adds_eval_questions_and_equal_texts_share_a_side():
    assert texts(split_golden(GOLDEN, 0.3)[1]) < texts(split_golden(GOLDEN, 0.6)[1])
    twin = GoldenQuestion(q="HOW is an invoice total computed, with tax?", repo="other", expect_paths=["x"])
    assert split_golden([twin])[1] == [twin]


def triplet(query: str) -> Triplet:
    return Triplet(query, "code", "a.py:1-2", [], [], "bootstrap")


def test_firewall_drops_exact_and_near_duplicates_of_eval_questions_only():
    held_out = [GoldenQuestion(q="where is the bearer token validated", repo="sample", expect_paths=["t.py"])]
    kept_queries = ["how is the bearer token created", "parse an http response"]
    dropped_queries = [
        "Where is the BEARER token validated?",  # the same once normalised
        "where is the oauth bearer token validated",  # padded
        "where are bearer tokens validated",  # inflected
        "where is the bearer tokn validated",  # misspelt
    ]
    triplets = [triplet(q) for q in kept_queries + dropped_queries]
    kept, dropped = firewall(triplets, held_out)
    assert [t.query for t in kept] == kept_queries
    assert [t.query for t in dropped] == dropped_queries
    assert firewall(triplets, ["where is the bearer token validated"]) == (kept, dropped)


def test_threshold_is_inclusive_and_similarity_is_the_best_of_three_measures():
    assert similarity("where is the token validated", "where is the oauth token validated") == pytest.approx(
        5 / 6
    )
    assert similarity("how do I deploy the service", "how do I test the service") == pytest.approx(5 / 7)
    assert similarity("least recently used cache eviction", "evict least recently used") == pytest.approx(0.8)
    question = ["least recently used cache eviction"]
    assert firewall([triplet("evict least recently used")], question)[1] != []
    assert firewall([triplet("evict least recently used")], question, threshold=0.81)[1] == []


def test_split_record_lists_both_sides_by_hash():
    train, held_out = split_golden(GOLDEN)
    record = split_record(train, held_out, eval_fraction=0.3, salt="codesift")
    assert record["salt"] == "codesift" and record["eval_fraction"] == 0.3
    invoice = "how is an invoice total computed with tax"
    digest = hashlib.sha1(f"codesift\x00{invoice}".encode()).hexdigest()
    assert record["eval"] == [{"hash": digest, "q": invoice, "repo": "sample"}]
    assert len(record["train"]) == 7
    assert [row["hash"] for row in record["train"]] == sorted(row["hash"] for row in record["train"])
    assert split_record(train[::-1], held_out) == record
