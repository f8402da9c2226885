"""A tiny fixture corpus of Python functions and the questions they answer, as training triplets."""

from __future__ import annotations

import random

from shared.schemas import Triplet

NOUNS = [
    "invoice",
    "user",
    "order",
    "token",
    "config",
    "report",
    "session",
    "image",
    "email",
    "cart",
    "page",
    "log",
]
VERBS = {
    "load": "def load_{n}(path):\n    with open(path) as f:\n        return {N}.from_json(f.read())\n",
    "validate": "def validate_{n}({n}):\n    if not {n}.id:\n        raise ValueError('{n} without id')\n",
    "delete": "def delete_{n}(db, {n}_id):\n    db.execute('DELETE FROM {n}s WHERE id = ?', ({n}_id,))\n",
}
QUESTIONS = {
    "load": "where is the {n} read from disk?",
    "validate": "how is a {n} checked?",
    "delete": "remove a {n}",
}


def tiny_triplets(count: int = 36, negatives: int = 2, seed: int = 0) -> list[Triplet]:
    """`count` triplets (at most 36), each with `negatives` functions about other things."""
    chunks = [
        (
            QUESTIONS[verb].format(n=noun),
            code.format(n=noun, N=noun.title()),
            f"app/{noun}.py:{i + 1}-{i + 3}",
        )
        for i, (verb, code) in enumerate(VERBS.items())
        for noun in NOUNS
    ]
    rng = random.Random(seed)
    triplets = []
    for i, (query, code, doc_id) in enumerate(chunks[:count]):
        others = rng.sample([j for j in range(len(chunks)) if j != i], negatives)
        triplets.append(
            Triplet(
                query=query,
                positive_text=code,
                positive_doc_id=doc_id,
                negative_texts=[chunks[j][1] for j in others],
                negative_doc_ids=[chunks[j][2] for j in others],
                source="bootstrap" if i % 3 else "golden",
            )
        )
    return triplets
