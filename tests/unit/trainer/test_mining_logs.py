import json

from services.trainer.mining.logs import DocKey, mine_logs, read_log
from shared.schemas import Triplet

QID1, QID2 = "1" * 32, "2" * 32
SHOWN = ["a.py:1-9", "b.py:1-9", "c.py:1-9", "d.py:1-9", "e.py:1-9"]


def impression(docs: list[str] = SHOWN) -> dict:
    return {
        "results": [{"position": i, "doc_id": d} for i, d in enumerate(docs, 1)],
        "reranker": "none (fusion order)",
        "model_version": None,
        "index_version": "v1",
        "timestamp": 1.0,
    }


def event(eid, doc, rating, ts, *, query="where is the token checked", qid=QID1, shown=SHOWN, **extra):
    line = {"event_id": eid, "query": query, "doc_id": doc, "rating": rating, "timestamp": ts}
    line["source"] = extra.pop("source", "click" if rating >= 4 else "thumbs_down")
    if qid is not None:
        line["query_id"] = qid
        line["position"] = shown.index(doc) + 1 if doc in shown else None
    line.update(extra)
    line["impression"] = impression(shown) if qid is not None and shown else None
    line["joined"] = line["impression"] is not None
    return line


class Texts:
    """A chunk-text lookup that records what it was asked and knows every doc but `missing`."""

    def __init__(self, missing: set[str] = frozenset()):
        self.missing = missing
        self.calls: list[list[DocKey]] = []

    def __call__(self, keys: list[DocKey]) -> dict[DocKey, str]:
        self.calls.append(keys)
        return {(repo, doc): f"text of {doc}" for repo, doc in keys if doc not in self.missing}


def triplet(positive, negatives, event_ids, query="where is the token checked", repo=None) -> Triplet:
    return Triplet(
        query=query,
        positive_text=f"text of {positive}",
        positive_doc_id=positive,
        negative_texts=[f"text of {d}" for d in negatives],
        negative_doc_ids=negatives,
        source="logs",
        event_ids=event_ids,
        repo=repo,
    )


def test_results_above_a_click_are_negatives_and_those_below_were_not_examined():
    triplets, stats = mine_logs([event("e1", "c.py:1-9", 5, 10.0)], Texts())
    # d and e were shown below the click: probably never read, so not negatives.
    assert triplets == [triplet("c.py:1-9", ["a.py:1-9", "b.py:1-9"], ["e1"])]
    assert (stats.read, stats.queries, stats.triplets, stats.without_negatives) == (1, 1, 1, 0)


def test_thumbs_down_is_a_negative_wherever_it_was_shown_and_comes_first():
    lines = [event("e1", "b.py:1-9", 5, 10.0), event("e2", "e.py:1-9", 1, 11.0)]
    triplets, _ = mine_logs(lines, Texts())
    assert triplets == [triplet("b.py:1-9", ["e.py:1-9", "a.py:1-9"], ["e1", "e2"])]


def test_the_deepest_click_sets_skip_above_for_every_positive_of_the_search():
    lines = [event("e1", "b.py:1-9", 5, 10.0), event("e2", "d.py:1-9", 5, 11.0)]
    triplets, _ = mine_logs(lines, Texts())
    # c (above the click on d) is a negative for b too; its evidence is the click on d.
    assert triplets == [
        triplet("b.py:1-9", ["a.py:1-9", "c.py:1-9"], ["e1", "e2"]),
        triplet("d.py:1-9", ["a.py:1-9", "c.py:1-9"], ["e2"]),
    ]


def test_clicked_then_thumbed_down_is_a_negative_and_sets_no_depth():
    lines = [
        event("e1", "d.py:1-9", 5, 10.0),  # clicked ...
        event("e2", "b.py:1-9", 5, 11.0),
        event("e3", "d.py:1-9", 1, 12.0),  # ... then thumbed down: the latest wins
    ]
    triplets, _ = mine_logs(lines, Texts())
    # d is no longer a positive, so the depth is b's position: c was not skipped for a good result.
    assert triplets == [triplet("b.py:1-9", ["d.py:1-9", "a.py:1-9"], ["e1", "e2", "e3"])]


def test_latest_by_timestamp_wins_not_log_order():
    lines = [
        event("e1", "b.py:1-9", 5, "2026-11-25T12:00:05Z"),  # written first, happened last: a click
        event("e2", "b.py:1-9", 1, "2026-11-25T12:00:01Z"),
    ]
    triplets, _ = mine_logs(lines, Texts())
    assert triplets == [triplet("b.py:1-9", ["a.py:1-9"], ["e1", "e2"])]


def test_a_query_searched_twice_gives_one_triplet_per_positive_with_merged_negatives():
    second = ["x.py:1-9", "c.py:1-9", "a.py:1-9"]
    lines = [
        event("e1", "c.py:1-9", 5, 10.0),
        event("e2", "c.py:1-9", 5, 20.0, query="Where is the token CHECKED?", qid=QID2, shown=second),
    ]
    triplets, stats = mine_logs(lines, Texts())
    assert triplets == [triplet("c.py:1-9", ["a.py:1-9", "b.py:1-9", "x.py:1-9"], ["e1", "e2"])]
    assert stats.queries == 1


def test_a_result_positive_in_one_search_is_never_a_negative_of_the_query():
    second = ["b.py:1-9", "c.py:1-9"]
    lines = [
        event("e1", "c.py:1-9", 5, 10.0),  # b skipped above c here ...
        event("e2", "b.py:1-9", 5, 20.0, qid=QID2, shown=second),  # ... and clicked there
    ]
    triplets, _ = mine_logs(lines, Texts())
    assert triplets == [
        triplet("c.py:1-9", ["a.py:1-9"], ["e1"]),
        triplet("b.py:1-9", ["a.py:1-9"], ["e1", "e2"]),
    ]


def test_unjoined_events_give_positives_and_explicit_negatives_but_no_skip_above():
    lines = [
        event("e1", "c.py:1-9", 5, 10.0, qid=None, position=3),
        event("e2", "e.py:1-9", 1, 11.0, qid=None, position=5),
    ]
    assert all(line["impression"] is None and line["joined"] is False for line in lines)
    triplets, _ = mine_logs(lines, Texts())
    assert triplets == [triplet("c.py:1-9", ["e.py:1-9"], ["e1", "e2"])]


def test_notes_malformed_lines_and_queries_without_positive_are_skipped_and_counted():
    note = event("n1", "", 1, 9.0, source="note", note="nothing about tokens")
    lines = [
        note,
        None,  # a torn line
        {"event_id": "x", "query": "q"},  # keys missing
        event("bad", "c.py:1-9", 5, "yesterday"),  # timestamp not understood
        event("e1", "b.py:1-9", 1, 10.0, query="only a thumbs down", qid=QID2),
    ]
    texts = Texts()
    triplets, stats = mine_logs(lines, texts)
    assert triplets == []
    assert texts.calls == []
    assert stats.read == 5
    assert stats.skipped == {"note": 1, "malformed": 3, "no_positive": 1}


def test_texts_are_asked_once_and_missing_ones_are_skipped():
    texts = Texts(missing={"a.py:1-9", "d.py:1-9"})
    lines = [
        event("e1", "b.py:1-9", 5, 10.0),
        event("e2", "d.py:1-9", 5, 11.0),
        event("e3", "e.py:1-9", 1, 12.0),
    ]
    triplets, stats = mine_logs(lines, texts)
    assert texts.calls == [[(None, d) for d in ("a.py:1-9", "b.py:1-9", "c.py:1-9", "d.py:1-9", "e.py:1-9")]]
    # d's triplet is gone (no positive text); a is gone from b's negatives.
    assert triplets == [triplet("b.py:1-9", ["e.py:1-9", "c.py:1-9"], ["e1", "e2", "e3"])]
    assert stats.skipped == {"missing_text": 2, "positive_missing": 1}


def test_repos_keep_queries_apart_and_default_repo_fills_unnamed_events():
    lines = [
        event("e1", "c.py:1-9", 5, 10.0, repo="api"),
        event("e2", "c.py:1-9", 5, 11.0, qid=QID2, repo="web"),
        event("e3", "b.py:1-9", 5, 12.0, qid=None),
    ]
    texts = Texts()
    triplets, _ = mine_logs(lines, texts, default_repo="api")
    # e3 names no repo: it joins the "api" query, where a was skipped above c (event e1).
    assert [(t.repo, t.positive_doc_id, t.negative_doc_ids, t.event_ids) for t in triplets] == [
        ("api", "c.py:1-9", ["a.py:1-9"], ["e1"]),
        ("api", "b.py:1-9", ["a.py:1-9"], ["e1", "e3"]),
        ("web", "c.py:1-9", ["a.py:1-9", "b.py:1-9"], ["e2"]),
    ]
    assert {repo for repo, _ in texts.calls[0]} == {"api", "web"}


def test_read_log_yields_objects_and_none_for_a_torn_line(tmp_path):
    path = tmp_path / "queries.jsonl"
    first = event("e1", "c.py:1-9", 5, 10.0)
    path.write_text(json.dumps(first) + "\n\n" + '{"event_id": "e2", "que')
    assert list(read_log(path)) == [first, None]


GARBAGE = [
    b"\xff\xfe\x00binary\x00junk",  # not UTF-8
    b"[" * 100_000,  # nested too deep for any JSON decoder
    b'{"event_id": ' + b"9" * 5000 + b"}",  # a huge number where a string belongs
    b"x" * 3_000_000,  # one line longer than MAX_LINE_BYTES
    b"[1, 2, 3]",
    b'"an event"',
    b"42",
    b"null",
    b'{"event_id": "e9", "query": "q", "doc_id": "a.py:1-9", "rating": 99999999999999999999, '
    b'"source": "click", "timestamp": 1.0}',
    b'{"event_id": "e7", "query": "q", "doc_id": "a.py:1-9", "rating": 5, "source": "click", '
    b'"timestamp": NaN}',
]


def test_a_log_full_of_garbage_is_mined_line_by_line_and_the_garbage_counted(tmp_path):
    path = tmp_path / "queries.jsonl"
    good = event("e1", "c.py:1-9", 5, 10.0)
    path.write_bytes(b"\n".join([*GARBAGE, json.dumps(good).encode(), b'{"torn": ']))
    lines = list(read_log(path))
    assert len(lines) == len(GARBAGE) + 2 and lines[-2] == good
    triplets, stats = mine_logs(lines, Texts())
    assert triplets == [triplet("c.py:1-9", ["a.py:1-9", "b.py:1-9"], ["e1"])]
    assert stats.read == len(GARBAGE) + 2
    assert stats.skipped == {"malformed": len(GARBAGE) + 1}  # and the torn last line


def test_an_oversized_line_is_skipped_without_losing_the_next(tmp_path):
    path = tmp_path / "queries.jsonl"
    first, second = event("e1", "c.py:1-9", 5, 10.0), event("e2", "d.py:1-9", 5, 11.0)
    path.write_bytes(
        json.dumps(first).encode() + b"\n" + b"y" * 5000 + b"\n" + json.dumps(second).encode() + b"\n"
    )
    assert list(read_log(path, max_line_bytes=4096)) == [first, None, second]
