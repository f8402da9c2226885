"""Cross-encoder scores already computed, keyed by (model version, query, chunk content hash).

A popular query, a user paging through results or the same question asked again after a re-index
of unchanged files costs no model run. Bounded in pairs, least recently used out first; safe to
share between the worker threads that answer searches.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

Key = tuple[str, str, str]  # (model version, query, chunk content hash)


class ScoreCache:
    def __init__(self, max_pairs: int):
        self.max_pairs = max_pairs
        self._scores: OrderedDict[Key, float] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._scores)

    def lookup(self, version: str, query: str, hashes: Sequence[str]) -> list[float | None]:
        """The cached score of each chunk hash, None where there is none."""
        found: list[float | None] = []
        with self._lock:
            for content_hash in hashes:
                key = (version, query, content_hash)
                score = self._scores.get(key)
                if score is not None:
                    self._scores.move_to_end(key)
                found.append(score)
            hits = sum(score is not None for score in found)
            self.hits += hits
            self.misses += len(found) - hits
        return found

    def store(self, version: str, query: str, hashes: Sequence[str], scores: Sequence[float]) -> None:
        if self.max_pairs == 0:
            return
        with self._lock:
            for content_hash, score in zip(hashes, scores, strict=True):
                key = (version, query, content_hash)
                self._scores[key] = float(score)
                self._scores.move_to_end(key)
            while len(self._scores) > self.max_pairs:
                self._scores.popitem(last=False)
