"""What a mining run did: how much it read, how many triplets it made, and why it skipped the rest."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class MiningStats:
    """Counts of one mining run.

    read: the items examined (log lines, golden questions or chunks).
    queries: the distinct queries that went on to triplet building.
    triplets: the triplets returned.
    without_negatives: of those, how many have no negative at all.
    skipped: why items, documents or candidate pairs were left out (reason -> count);
    each miner documents its reasons.
    origins: bootstrap only, where the returned queries came from (docstring | comment | name).
    labels: logs only, when labels were re-attached: how many distinct labels each rule placed
    (intact | content_hash | symbol | overlap | lost; see mining/reattach.py).
    """

    source: str
    read: int = 0
    queries: int = 0
    triplets: int = 0
    without_negatives: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    origins: Counter[str] = field(default_factory=Counter)
    labels: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready summary (for job results and the manifest)."""
        return {
            "source": self.source,
            "read": self.read,
            "queries": self.queries,
            "triplets": self.triplets,
            "without_negatives": self.without_negatives,
            "skipped": dict(sorted(self.skipped.items())),
            "origins": dict(sorted(self.origins.items())),
        } | ({"labels": dict(sorted(self.labels.items()))} if self.labels else {})
