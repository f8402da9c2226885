"""Triplet mining: feedback log, golden questions and the repository itself, behind a query firewall.

Pure functions over injected data and lookups (no NATS, no torch): the service hands them log
lines, chunk texts and retrieval candidates, and stores what they return.
"""

from services.trainer.mining.bootstrap import DEFAULT_MAX_PAIRS, mine_bootstrap
from services.trainer.mining.firewall import firewall, split_golden, split_record
from services.trainer.mining.golden import CandidateSearch, mine_golden
from services.trainer.mining.logs import DocKey, TextLookup, mine_logs, read_log
from services.trainer.mining.stats import MiningStats
from services.trainer.mining.store import (
    StoreReport,
    count_by_source,
    load_triplets,
    store_triplets,
    write_split,
)
from shared.filekinds import file_kind

__all__ = [
    "DEFAULT_MAX_PAIRS",
    "CandidateSearch",
    "DocKey",
    "MiningStats",
    "StoreReport",
    "TextLookup",
    "count_by_source",
    "file_kind",
    "firewall",
    "load_triplets",
    "mine_bootstrap",
    "mine_golden",
    "mine_logs",
    "read_log",
    "split_golden",
    "split_record",
    "store_triplets",
    "write_split",
]
