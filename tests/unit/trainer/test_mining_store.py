import json

from services.trainer.mining.store import (
    StoreReport,
    count_by_source,
    load_triplets,
    store_triplets,
    write_split,
)
from shared.schemas import Triplet


def triplet(source: str, query: str, positive: str = "a.py:1-5", negatives: tuple[str, ...] = ()) -> Triplet:
    return Triplet(
        query=query,
        positive_text=f"text of {positive}",
        positive_doc_id=positive,
        negative_texts=[f"text of {d}" for d in negatives],
        negative_doc_ids=list(negatives),
        source=source,
        event_ids=["e1"] if source == "logs" else [],
        repo="sample",
    )


LOGS = triplet("logs", "where is the token checked", negatives=("b.py:1-5",))
GOLDEN = triplet("golden", "how are passwords hashed")
BOOT = triplet("bootstrap", "Retry a failed call", positive="retry.py:1-9")


def test_a_new_source_is_added_beside_the_others(tmp_path):
    path = tmp_path / "training" / "triplets.jsonl"
    assert load_triplets(path) == []
    assert store_triplets(path, [LOGS, BOOT]) == StoreReport(
        added=2, replaced=0, removed=0, repaired=0, total=2
    )
    assert store_triplets(path, [GOLDEN]) == StoreReport(added=1, replaced=0, removed=0, repaired=0, total=3)
    assert load_triplets(path) == [LOGS, BOOT, GOLDEN]
    assert load_triplets(path, sources={"golden", "logs"}) == [LOGS, GOLDEN]
    assert count_by_source(load_triplets(path)) == {"bootstrap": 1, "golden": 1, "logs": 1}
    # the DESIGN.md line format, with the optional keys only when set
    first = json.loads(path.read_text().splitlines()[0])
    assert list(first) == [
        "query",
        "positive_text",
        "positive_doc_id",
        "negative_texts",
        "negative_doc_ids",
        "source",
        "event_ids",
        "repo",
    ]
    assert "event_ids" not in json.loads(path.read_text().splitlines()[1])


def test_the_newest_triplet_with_the_same_key_replaces_the_old_one_and_goes_last(tmp_path):
    path = tmp_path / "triplets.jsonl"
    store_triplets(path, [LOGS, GOLDEN])
    newer = triplet("logs", "Where is the token CHECKED?", negatives=("b.py:1-5", "c.py:1-5"))
    same_query_other_source = triplet("bootstrap", LOGS.query)
    report = store_triplets(path, [newer, same_query_other_source])
    assert report == StoreReport(added=1, replaced=1, removed=0, repaired=0, total=3)
    assert load_triplets(path) == [GOLDEN, newer, same_query_other_source]


def test_replacing_a_source_drops_its_triplets_that_did_not_come_back(tmp_path):
    path = tmp_path / "triplets.jsonl"
    stale = triplet("logs", "a click later thumbed down", positive="z.py:1-5")
    store_triplets(path, [LOGS, stale, GOLDEN])
    report = store_triplets(path, [LOGS], replace_sources={"logs"})
    assert report == StoreReport(added=0, replaced=1, removed=1, repaired=0, total=2)
    assert load_triplets(path) == [GOLDEN, LOGS]


def test_a_torn_line_is_repaired_and_every_whole_line_kept(tmp_path):
    path = tmp_path / "triplets.jsonl"
    store_triplets(path, [LOGS, GOLDEN])
    with path.open("ab") as handle:
        handle.write(b'{"query": "half writ')  # a writer died mid-line
    assert load_triplets(path) == [LOGS, GOLDEN]
    report = store_triplets(path, [BOOT])
    assert report.repaired == 1
    assert load_triplets(path) == [LOGS, GOLDEN, BOOT]
    assert path.read_bytes().endswith(b"\n")
    assert [p.name for p in tmp_path.iterdir()] == ["triplets.jsonl"]  # no temporary file left


def test_write_split(tmp_path):
    path = tmp_path / "training" / "split.json"
    write_split(path, {"salt": "codesift", "eval": [{"q": "grüße"}]})
    write_split(path, {"salt": "codesift", "eval": []})
    assert json.loads(path.read_text()) == {"salt": "codesift", "eval": []}
    assert sorted(p.name for p in path.parent.iterdir()) == ["split.json"]


def test_garbage_lines_are_skipped_counted_and_dropped_at_the_next_write(tmp_path):
    path = tmp_path / "triplets.jsonl"
    store_triplets(path, [LOGS])
    garbage = [b"[" * 100_000, b"\xff\xfe binary", b"[1, 2]", b'{"query": 5}', b"null", b'"text"', b"{}"]
    with path.open("ab") as handle:
        handle.write(b"\n".join(garbage) + b"\n")
    assert load_triplets(path) == [LOGS]
    report = store_triplets(path, [GOLDEN])
    assert report.repaired == len(garbage)
    assert load_triplets(path) == [LOGS, GOLDEN] and len(path.read_bytes().splitlines()) == 2
