"""Finding the impression a feedback event refers to: the last message on its query's subject."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

import nats.errors
from nats.js import JetStreamContext

from shared.impressions import find_impression
from shared.schemas import Impression

log = logging.getLogger("codesift.telemetry")


@dataclass
class Lookup:
    """found: impressions by query id. unavailable: ids whose lookup failed (ask again later).
    Any other id asked for has no impression yet, or never will."""

    found: dict[str, Impression] = field(default_factory=dict)
    unavailable: set[str] = field(default_factory=set)


class ImpressionJoiner:
    """Looks impressions up in the IMPRESSIONS stream, keeping the latest `cache_size` found in memory
    (clicks and thumbs on one search share its impression, which never changes)."""

    def __init__(self, js: JetStreamContext, cache_size: int = 5_000):
        self.js = js
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Impression] = OrderedDict()

    async def find_many(self, query_ids: Iterable[str]) -> Lookup:
        lookup = Lookup()
        wanted = []
        for query_id in set(query_ids):
            if (cached := self._cache.get(query_id)) is not None:
                self._cache.move_to_end(query_id)
                lookup.found[query_id] = cached
            else:
                wanted.append(query_id)
        answers = await asyncio.gather(*(self._fetch(q) for q in wanted), return_exceptions=True)
        for query_id, answer in zip(wanted, answers, strict=True):
            if isinstance(answer, Impression):
                lookup.found[query_id] = answer
                self._remember(query_id, answer)
            elif isinstance(answer, (nats.errors.Error, TimeoutError, OSError)):
                log.warning("impression lookup for %s failed: %s", query_id, answer or type(answer).__name__)
                lookup.unavailable.add(query_id)
            elif isinstance(answer, BaseException):
                raise answer
        return lookup

    async def _fetch(self, query_id: str) -> Impression | None:
        return await find_impression(self.js, query_id)

    def _remember(self, query_id: str, impression: Impression) -> None:
        if self.cache_size <= 0:
            return
        self._cache[query_id] = impression
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
