"""The query-level firewall: golden questions split into train and eval, no eval question trained on.

The split itself (`split_golden`: sha1 of the salted, normalised question) is `shared.golden`'s,
so the evaluator scores exactly the eval side the trainer held out.

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
from shared.golden import DEFAULT_EVAL_FRACTION, DEFAULT_SALT
from shared.golden import split_golden as split_golden
from shared.schemas import GoldenQuestion, Triplet

DEFAULT_THRESHOLD = 0.8


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
