"""Settings of the search service (replicas and indexer)."""

from __future__ import annotations

import functools
from typing import Annotated

import msgspec

from shared.settings import Settings, from_env


class SearchSettings(Settings, kw_only=True):
    embed_onnx_dir: str = ""  # exported embedder; empty: the newest export under CACHE_DIR/embedder
    retrieval_depth: Annotated[int, msgspec.Meta(ge=10, le=1000)] = 100  # per retriever, before fusion
    max_workers: Annotated[int, msgspec.Meta(ge=1, le=64)] = 4  # concurrent requests per replica


@functools.cache
def search_settings() -> SearchSettings:
    return from_env(SearchSettings)
