"""The queries held out of the cross-encoder's training, on which the combiner's settings are chosen.

The cross-encoder's logit is one of the combiner's features, but a cross-encoder scores the
queries it was trained on far better than new ones: weighed on those, its logit would look
better than it is. So a quarter of the groups' queries (a stable hash of the normalised query,
salted apart from the golden split) is kept out of the cross-encoder's training; the ranker is
fitted on the other groups and the blend of ranker, fusion prior and cross-encoder is chosen on
these, where the cross-encoder is as new to the query as it will be to a user's. The held-out queries
are also the first of the folds over which the rest of the choice is cross-validated.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from services.trainer.combiner.groups import Group
from shared.golden import normalise, stable_hash
from shared.schemas import Triplet

HOLDOUT_FRACTION = 0.25
FOLDS = 4  # for cross-validation: fold 0 is the held-out queries, the others split the rest
SALT = "codesift-combiner"
_DIGITS = 15


def holdout_fraction_of(query: str) -> float:
    """Where the query falls in [0, 1): the same on every run and machine."""
    return int(stable_hash(query, SALT)[:_DIGITS], 16) / 16**_DIGITS


def holdout_keys(groups: Sequence[Group], fraction: float = HOLDOUT_FRACTION) -> frozenset[str]:
    """Normalised queries held out: those hashed below `fraction`; both sides get at least one query."""
    keys = sorted({g.key for g in groups}, key=holdout_fraction_of)
    if len(keys) < 2:
        return frozenset()
    held = [k for k in keys if holdout_fraction_of(k) < fraction]
    held = held or keys[:1]
    if len(held) == len(keys):
        held = held[:-1]
    return frozenset(held)


def fold_of(key: str, held: frozenset[str]) -> int:
    """0 for a held-out query, else 1..FOLDS-1 by the same hash."""
    if key in held:
        return 0
    rest = (holdout_fraction_of(key) - HOLDOUT_FRACTION) / (1 - HOLDOUT_FRACTION)
    return 1 + min(FOLDS - 2, max(0, int(rest * (FOLDS - 1))))


def cross_encoder_triplets(triplets: Iterable[Triplet], held: frozenset[str]) -> list[Triplet]:
    """The triplets the cross-encoder may train on: none of a held-out query."""
    return [t for t in triplets if normalise(t.query) not in held]
