"""A search replica's Prometheus metrics: searches, the latency of each stage, what it serves.

Stages of one search, in seconds (`codesift_search_stage_seconds{replica, stage}`):
- `retrieval`: query embedding, BM25, vectors and fusion;
- `cross_encoder`: the cross-encoder scores of the top N (cache hits included), only for a model
  that uses it;
- `features`: candidate feature rows and the learned combiner, only for a model that has one;
- `total`: the whole search inside the replica, from the request's bytes to the reply's;
- `impression`: storing the impression in JetStream before the reply is sent.

Children are bound once per replica, so a search pays a few histogram observations (~2 µs each)
and no label lookups. `SearchInstruments` is None in a replica with CODESIFT_METRICS=false.
"""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram, Info

from shared.observability import LATENCY_BUCKETS

STAGES = ("retrieval", "cross_encoder", "features", "total", "impression")
# refused: a bad request, an unknown repository, no index yet; expired: skipped, its asker had given up
OUTCOMES = ("ok", "refused", "error", "expired")
NONE = "none"  # the version and kind shown when no reranker is served
StageTimes = list[tuple[str, float]]  # (stage, seconds) of one search, as its stages end

SEARCHES = Counter("codesift_searches_total", "Searches answered by a replica", ["replica", "outcome"])
STAGE_SECONDS = Histogram(
    "codesift_search_stage_seconds",
    "Seconds each stage of a search took in a replica",
    ["replica", "stage"],
    buckets=LATENCY_BUCKETS,
)
RERANKER = Info(
    "codesift_reranker", "The reranker a replica serves (version none: fusion order)", ["replica"]
)
RERANKER_LOADED = Gauge(
    "codesift_reranker_loaded_timestamp_seconds",
    "When the reranker a replica serves was swapped in (Unix time; its start for none)",
    ["replica"],
)
RERANKER_LOADS = Histogram(
    "codesift_reranker_load_seconds",
    "Seconds from a replica deciding to serve a model to serving it (fetch, verify, warm; ~0 when "
    "prepared at training), by outcome (ok, failed)",
    ["replica", "outcome"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
INDEX = Info("codesift_index", "The index snapshot a replica serves", ["replica"])
INDEX_CHUNKS = Gauge("codesift_index_chunks", "Chunks in the index a replica serves", ["replica"])


class SearchInstruments:
    """One replica's metric children, bound once."""

    def __init__(self, replica_id: str, started_at: float | None = None):
        self.replica_id = replica_id
        self.searches = {outcome: SEARCHES.labels(replica_id, outcome) for outcome in OUTCOMES}
        self.stages = {stage: STAGE_SECONDS.labels(replica_id, stage) for stage in STAGES}
        self.served(None, None, started_at if started_at is not None else time.time())

    def searched(self, outcome: str) -> None:
        self.searches[outcome].inc()

    def stage(self, stage: str, seconds: float) -> None:
        self.stages[stage].observe(seconds)

    def served(self, version: str | None, kind: str | None, since: float) -> None:
        """The reranker now served (None: fusion order) and when it was swapped in."""
        RERANKER.labels(self.replica_id).info({"version": version or NONE, "kind": kind or NONE})
        RERANKER_LOADED.labels(self.replica_id).set(since)

    def loaded(self, outcome: str, seconds: float) -> None:
        RERANKER_LOADS.labels(self.replica_id, outcome).observe(seconds)

    def index(self, version: str, chunks: int) -> None:
        INDEX.labels(self.replica_id).info({"version": version})
        INDEX_CHUNKS.labels(self.replica_id).set(chunks)
