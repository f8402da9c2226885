"""Settings of the search service (replicas and indexer)."""

from __future__ import annotations

import functools
from typing import Annotated, Literal

import msgspec

from shared.settings import Settings, from_env


class SearchSettings(Settings, kw_only=True):
    embed_onnx_dir: str = ""  # exported embedder; empty: the newest export under CACHE_DIR/embedder
    retrieval_depth: Annotated[int, msgspec.Meta(ge=10, le=1000)] = 100  # per retriever, before fusion
    max_workers: Annotated[int, msgspec.Meta(ge=1, le=64)] = 4  # concurrent requests per replica
    # reranker
    reranker_model_path: str = ""  # a local model directory served instead of the registry's (offline use)
    reranker_backend: Literal["onnxruntime"] = "onnxruntime"  # the only runtime replicas carry
    reranker_reload_interval: Annotated[float, msgspec.Meta(gt=0)] = 60.0  # safety poll of the pointer, s
    reranker_topn: Annotated[int, msgspec.Meta(ge=1, le=200)] = 20  # fusion candidates the model reorders
    reranker_max_length: Annotated[int, msgspec.Meta(ge=16, le=512)] | None = None  # None: as trained
    # Pairs per onnxruntime run. 1: the int8 model quantizes activations per batch, so a pair's
    # score moves (~5e-3) with the pairs batched beside it; alone, a pair always gets the same score
    # (what the score cache and the evaluator rely on), and it is no slower: scoring the top 20 of
    # this repository at 256 tokens, batches of 1 and 4 were within 10%, batches of 16 ~1.6x slower.
    reranker_batch_size: Annotated[int, msgspec.Meta(ge=1, le=256)] = 1
    reranker_cache_size: Annotated[int, msgspec.Meta(ge=0)] = 50_000  # cached (query, chunk) scores; 0: off
    # share of searches a running online experiment interleaves (team draft of production and candidate)
    interleave_share: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.5
    # retrieval backend: the index inside each replica (default), or an OpenSearch cluster
    index_backend: Literal["embedded", "opensearch"] = "embedded"
    opensearch_url: str = "http://127.0.0.1:9200"  # comma-separated for several nodes
    opensearch_user: str = ""  # empty: no HTTP basic auth
    opensearch_password: str = ""
    opensearch_verify_certs: bool = True  # for https URLs
    opensearch_ca_certs: str = ""  # a CA bundle for https URLs; empty: the system's
    opensearch_index_prefix: str = "codesift"  # indexes <prefix>-<repo>-<version>, alias <prefix>-<repo>
    opensearch_shards: Annotated[int, msgspec.Meta(ge=1, le=1024)] = 1
    opensearch_replicas: Annotated[int, msgspec.Meta(ge=0, le=16)] = 0  # 1+ in a multi-node cluster
    # fuse on the server with a hybrid query and a search pipeline (needs OpenSearch >= 2.19 for RRF)
    opensearch_hybrid: bool = False


@functools.cache
def search_settings() -> SearchSettings:
    return from_env(SearchSettings)
