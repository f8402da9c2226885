"""Each re-attachment rule alone, on chunks the real chunker makes of small files before and after an edit."""

from __future__ import annotations

import msgspec

from services.search.chunking import chunk_file
from services.search.documents import Chunk, SourceFile
from services.trainer.mining.logs import mine_logs
from services.trainer.mining.reattach import OVERLAP_MIN, Catalog, Label, Reattacher, reattach_triplets
from shared.fingerprints import fingerprint
from shared.schemas import ChunkRecord, Triplet

AUTH = '''"""Tokens."""


def validate_token(token):
    """Check the signature of an OAuth token."""
    header, body, signature = token.split(".")
    key = load_key(header)
    return verify(key, body, signature)


def refresh_token(token):
    claims = decode(token)
    claims["exp"] = now() + 3600
    return encode(claims)
'''


def chunks(files: dict[str, str], repo: str = "demo") -> list[Chunk]:
    found = []
    for path, text in files.items():
        for chunk in chunk_file(SourceFile(path, "python", text)):
            chunk.repo = repo
            found.append(chunk)
    return found


def records(found: list[Chunk]) -> list[ChunkRecord]:
    return [
        ChunkRecord(c.doc_id, c.repo, c.path, c.start_line, c.end_line, c.language, c.kind, c.symbol, c.text)
        for c in found
    ]


def label(chunk: Chunk) -> Label:
    return Label.of_text(chunk.repo, chunk.doc_id, chunk.text, chunk.symbol)


def named(found: list[Chunk], symbol: str) -> Chunk:
    return next(c for c in found if c.symbol == symbol)


def test_an_unchanged_chunk_is_intact():
    before = chunks({"auth.py": AUTH})
    placed = Catalog(records(before)).place(label(named(before, "refresh_token")))
    assert (placed.rule, placed.chunk.doc_id) == ("intact", named(before, "refresh_token").doc_id)


def test_lines_inserted_above_move_the_doc_id_and_the_content_hash_finds_the_chunk():
    before = chunks({"auth.py": AUTH})
    after = chunks({"auth.py": AUTH.replace('"""Tokens."""\n', '"""Tokens."""\n\nimport os\nimport sys\n')})
    old = named(before, "refresh_token")
    placed = Catalog(records(after)).place(label(old))
    assert old.doc_id not in {c.doc_id for c in after}
    assert (placed.rule, placed.chunk.doc_id) == ("content_hash", named(after, "refresh_token").doc_id)


def test_a_doc_id_still_there_but_holding_other_text_is_not_intact():
    before = chunks({"auth.py": AUTH})
    old = named(before, "validate_token")
    # another function now sits exactly on the old lines; the labelled one moved down
    moved = AUTH.replace("def validate_token", "def other(x):\n    return x\n\n\ndef validate_token")
    after = chunks({"auth.py": moved})
    impostor = next(c for c in after if c.start_line == old.start_line)
    assert impostor.symbol == "other"
    placed = Catalog(records(after)).place(label(old))
    assert (placed.rule, placed.chunk.symbol) == ("content_hash", "validate_token")


def test_a_moved_file_is_found_by_content_hash_and_the_same_path_wins_a_tie():
    before = chunks({"auth.py": AUTH})
    old = named(before, "refresh_token")
    moved = chunks({"security/auth.py": AUTH})
    placed = Catalog(records(moved)).place(label(old))
    assert (placed.rule, placed.chunk.path) == ("content_hash", "security/auth.py")
    # a copy in another file and the chunk moved down in its own file: its own file wins
    both = chunks({"copy/auth.py": AUTH, "auth.py": "import os\n\n\n" + AUTH})
    placed = Catalog(records(both)).place(label(old))
    assert (placed.rule, placed.chunk.path) == ("content_hash", "auth.py")
    # the chunk edited in its own file, an untouched copy elsewhere: the copy is not the chunk
    beside = chunks({"copy/auth.py": AUTH, "auth.py": AUTH.replace("3600", "60")})
    placed = Catalog(records(beside)).place(label(old))
    assert (placed.rule, placed.chunk.path) == ("symbol", "auth.py")
    # the function moved to another file that already existed: its old file lacks it now
    split = AUTH[: AUTH.index("def refresh_token")]
    moved_out = chunks(
        {"auth.py": split, "refresh.py": "import time\n\n\n" + AUTH[AUTH.index("def refresh_token") :]}
    )
    placed = Catalog(records(moved_out)).place(label(old))
    assert (placed.rule, placed.chunk.path) == ("content_hash", "refresh.py")


def test_a_changed_definition_is_found_by_its_symbol_in_the_same_file():
    before = chunks({"auth.py": AUTH})
    edited = AUTH.replace(
        "def refresh_token(token):", "# Renew a token for an hour.\ndef refresh_token(token):"
    )
    after = chunks({"auth.py": edited.replace("3600", "7200")})
    placed = Catalog(records(after)).place(label(named(before, "refresh_token")))
    assert (placed.rule, placed.chunk.doc_id) == ("symbol", named(after, "refresh_token").doc_id)


def test_the_symbol_rule_stays_in_the_file():
    before = chunks({"auth.py": AUTH})
    after = chunks({"auth.py": AUTH.replace("3600", "7200"), "other.py": AUTH.replace("3600", "60")})
    old = named(before, "refresh_token")
    placed = Catalog(records(after)).place(label(old))
    assert placed.rule == "symbol" and placed.chunk.path == "auth.py"
    # only the other file holds the symbol: not this label's chunk
    gone = Catalog(records([c for c in after if c.path == "other.py"])).place(label(old))
    assert (gone.rule, gone.chunk) == ("lost", None)


def test_a_renamed_function_is_found_by_line_overlap_above_the_threshold():
    before = chunks({"auth.py": AUTH})
    after = chunks({"auth.py": AUTH.replace("def refresh_token(", "def renew_token(")})
    placed = Catalog(records(after)).place(label(named(before, "refresh_token")))
    assert (placed.rule, placed.chunk.symbol) == ("overlap", "renew_token")


def test_overlap_below_the_threshold_or_in_another_file_is_lost():
    before = chunks({"auth.py": AUTH})
    old = named(before, "refresh_token")
    rewritten = AUTH.replace("claims = decode(token)", "data = parse(token)").replace(
        'claims["exp"] = now() + 3600\n    return encode(claims)', "return sign(data)"
    )
    after = chunks({"auth.py": rewritten.replace("def refresh_token(", "def renew(")})
    assert Catalog(records(after)).place(label(old)).rule == "lost"
    elsewhere = chunks({"util.py": AUTH.replace("def refresh_token(", "def renew_token(")})
    assert Catalog(records(elsewhere)).place(label(old)).rule == "lost"
    assert 0 < OVERLAP_MIN < 1


def test_an_old_label_without_anchors_is_intact_when_its_doc_id_exists_and_lost_otherwise():
    before = chunks({"auth.py": AUTH})
    catalog = Catalog(records(before))
    old = named(before, "refresh_token")
    assert catalog.place(Label("demo", old.doc_id)).rule == "intact"
    assert catalog.place(Label("demo", "auth.py:90-99")).rule == "lost"


def log_line(eid: str, qid: str, repo: str, clicked: Chunk, shown: list[Chunk]) -> dict:
    results = [
        {
            "position": p,
            "doc_id": c.doc_id,
            "content_hash": c.content_hash,
            "symbol": c.symbol,
            "fingerprint": fingerprint(c.text),
        }
        for p, c in enumerate(shown, 1)
    ]
    return {
        "event_id": eid,
        "query": f"query {qid}",
        "doc_id": clicked.doc_id,
        "rating": 5,
        "source": "click",
        "timestamp": 1.0,
        "query_id": qid * 32,
        "position": shown.index(clicked) + 1,
        "repo": repo,
        "content_hash": clicked.content_hash,
        "symbol": clicked.symbol,
        "fingerprint": fingerprint(clicked.text),
        "impression": {
            "results": results,
            "reranker": "none",
            "model_version": None,
            "index_version": "v1",
            "timestamp": 1.0,
        },
        "joined": True,
    }


class Index:
    """The current chunks, answering as SearchSource.texts and .chunks do; counts full fetches."""

    def __init__(self, found: list[Chunk]):
        self.by_key = {(c.repo, c.doc_id): c for c in found}
        self.fetched: list[str] = []

    def texts(self, keys):
        return {key: self.by_key[key].text for key in keys if key in self.by_key}

    def chunks(self, repo):
        self.fetched.append(repo)
        return records([c for c in self.by_key.values() if c.repo == repo])


def test_mining_moves_clicks_and_skipped_results_to_their_chunks_now_and_counts_each_rule():
    before = chunks({"auth.py": AUTH})
    validate, refresh = named(before, "validate_token"), named(before, "refresh_token")
    lines = [log_line("e1", "1", "demo", refresh, [validate, refresh])]
    edited = "import os\n\n\n" + AUTH.replace("def refresh_token(", "def renew_token(")
    after = chunks({"auth.py": edited})
    index = Index(after)
    reattacher = Reattacher(index.chunks)
    triplets, stats = mine_logs(lines, index.texts, reattacher=reattacher)
    assert [(t.positive_doc_id, t.negative_doc_ids) for t in triplets] == [
        (named(after, "renew_token").doc_id, [named(after, "validate_token").doc_id])
    ]
    assert triplets[0].positive_text == named(after, "renew_token").text
    assert (triplets[0].positive_symbol, triplets[0].negative_symbols) == ("renew_token", ["validate_token"])
    assert stats.labels == {"overlap": 1, "content_hash": 1}
    assert stats.as_dict()["labels"] == {"content_hash": 1, "overlap": 1}
    assert index.fetched == ["demo"]  # the repository's chunks, fetched once


def test_mining_drops_a_click_whose_chunk_is_gone_and_asks_for_nothing_when_all_are_intact():
    before = chunks({"auth.py": AUTH})
    validate, refresh = named(before, "validate_token"), named(before, "refresh_token")
    lines = [log_line("e1", "1", "demo", refresh, [validate, refresh])]
    index = Index(before)
    triplets, stats = mine_logs(lines, index.texts, reattacher=Reattacher(index.chunks))
    assert len(triplets) == 1 and stats.labels == {"intact": 2} and index.fetched == []

    gone = Index(chunks({"auth.py": '"""Tokens."""\n'}))
    triplets, stats = mine_logs(lines, gone.texts, reattacher=Reattacher(gone.chunks))
    assert triplets == [] and stats.labels == {"lost": 2} and stats.skipped["label_lost"] == 1


def test_stored_triplets_follow_their_chunks_and_one_whose_positive_is_lost_is_dropped():
    before = chunks({"auth.py": AUTH})
    validate, refresh = named(before, "validate_token"), named(before, "refresh_token")

    def stored(positive: Chunk, negative: Chunk, query: str) -> Triplet:
        return Triplet(
            query, positive.text, positive.doc_id, [negative.text], [negative.doc_id], "golden", repo="demo",
            positive_symbol=positive.symbol, negative_symbols=[negative.symbol],
        )  # fmt: skip

    old = [stored(refresh, validate, "renew a token"), stored(validate, refresh, "check a token")]
    edited = "import os\n\n\n" + AUTH.replace("3600", "7200")
    removed = edited.replace(
        edited[edited.index("def validate_token") : edited.index("def refresh_token")], ""
    )
    index = Index(chunks({"auth.py": removed}))
    reattacher = Reattacher(index.chunks)
    moved, changed = reattach_triplets(old, index.texts, reattacher)
    renewed = named(chunks({"auth.py": removed}), "refresh_token")
    assert changed == 2
    assert [(t.query, t.positive_doc_id, t.positive_text, t.negative_doc_ids) for t in moved] == [
        ("renew a token", renewed.doc_id, renewed.text, [])  # the validate negative is gone
    ]
    assert moved[0].positive_symbol == "refresh_token" and moved[0].negative_symbols == []
    # a bootstrap positive is its chunk with the documentation cut out: left for bootstrap mining
    bootstrap = msgspec.structs.replace(old[0], source="bootstrap")
    assert reattach_triplets([bootstrap], index.texts, Reattacher(index.chunks)) == ([bootstrap], 0)
    # each distinct label once: refresh_token (edited: its symbol), validate_token (removed)
    assert reattacher.summary() == {"intact": 0, "content_hash": 0, "symbol": 1, "overlap": 0, "lost": 1}
