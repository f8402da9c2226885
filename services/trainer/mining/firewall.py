"""The query-level firewall: golden questions split into train and eval, no eval question trained on.

The split hashes each question's normalised text with sha1 and a salt: a question is on the
eval side when its hash, read as a fraction of 2**60, is below `eval_fraction`. The side of a
question depends on nothing else, so it is the same on every run and machine, whatever the order
of the file, and adding questions never moves existing ones. The fraction is therefore
expected, not exact (a small set can even leave a side empty). Equal questions of different
repos share a side.

`firewall` drops every triplet whose query is an eval question or a near-duplicate of one
(any repo): questions whose Jaccard similarity reaches the threshold on any of their word
sets, their sets of stemmed content words (stop words dropped) or their character 3-grams, all
of the normalised text. Words catch padded questions ("where is the token validated" / "where
is the oauth token validated": 5/6), content stems inflected and reworded ones ("where are
bearer tokens validated" / "where is the bearer token validated": 1.0), 3-grams misspellings
("authentification" / "authentication"). Any one is enough, since a leak costs more than a
lost triplet.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.trainer.mining.text import content_words, jaccard, normalise, stable_hash, stems, trigrams
from shared.schemas import GoldenQuestion, Triplet

DEFAULT_EVAL_FRACTION = 0.3
DEFAULT_SALT = "codesift"
DEFAULT_THRESHOLD = 0.8
_HASH_DIGITS = 15  # 60 bits of the sha1, plenty for a fraction


def is_eval(question: str, eval_fraction: float = DEFAULT_EVAL_FRACTION, salt: str = DEFAULT_SALT) -> bool:
    return int(stable_hash(question, salt)[:_HASH_DIGITS], 16) < eval_fraction * 16**_HASH_DIGITS


def split_golden(
    questions: Iterable[GoldenQuestion],
    eval_fraction: float = DEFAULT_EVAL_FRACTION,
    salt: str = DEFAULT_SALT,
) -> tuple[list[GoldenQuestion], list[GoldenQuestion]]:
    """(train, eval), each in the input order."""
    train: list[GoldenQuestion] = []
    held_out: list[GoldenQuestion] = []
    for question in questions:
        (held_out if is_eval(question.q, eval_fraction, salt) else train).append(question)
    return train, held_out


def similarity(a: str, b: str) -> float:
    """How alike two questions are, 0..1: the largest of word, content-stem and 3-gram Jaccard."""
    return _alike(_signature(a), _signature(b))


def firewall(
    triplets: Iterable[Triplet],
    eval_questions: Iterable[GoldenQuestion | str],
    threshold: float = DEFAULT_THRESHOLD,
) -> tuple[list[Triplet], list[Triplet]]:
    """(kept, dropped): dropped are the triplets whose query is, or nearly is, an eval question."""
    held_out = {normalise(q.q if isinstance(q, GoldenQuestion) else q) for q in eval_questions}
    signatures = [_signature(q) for q in held_out]
    verdicts: dict[str, bool] = {}
    kept: list[Triplet] = []
    dropped: list[Triplet] = []
    for triplet in triplets:
        query = normalise(triplet.query)
        if query not in verdicts:
            mine = _signature(query)
            verdicts[query] = any(_alike(mine, s) >= threshold for s in signatures)
        (dropped if verdicts[query] else kept).append(triplet)
    return kept, dropped


def split_record(
    train: Iterable[GoldenQuestion],
    held_out: Iterable[GoldenQuestion],
    *,
    eval_fraction: float = DEFAULT_EVAL_FRACTION,
    salt: str = DEFAULT_SALT,
) -> dict[str, object]:
    """What `data/training/split.json` records: how the split was made and each side's questions."""

    def side(questions: Iterable[GoldenQuestion]) -> list[dict[str, str]]:
        rows = [{"hash": stable_hash(q.q, salt), "q": q.q, "repo": q.repo} for q in questions]
        return sorted(rows, key=lambda r: (r["hash"], r["repo"], r["q"]))

    return {
        "method": "sha1(salt + NUL + normalised question)[:15] / 16**15 < eval_fraction",
        "salt": salt,
        "eval_fraction": eval_fraction,
        "train": side(train),
        "eval": side(held_out),
    }


_Signature = tuple[set[str], set[str], set[str]]


def _signature(text: str) -> _Signature:
    normalised = normalise(text)
    return set(normalised.split()), stems(content_words(normalised)), trigrams(normalised)


def _alike(a: _Signature, b: _Signature) -> float:
    content = jaccard(a[1], b[1]) if a[1] and b[1] else 0.0  # questions of stop words only
    return max(jaccard(a[0], b[0]), content, jaccard(a[2], b[2]))
