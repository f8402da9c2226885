"""bench/scale.py's OpenSearch half: the same chunks and queries against a running cluster.

    python -m bench.scale --opensearch http://127.0.0.1:9200 [--sizes ...]

For each size it writes the chunks (random unit vectors, as the embedded half) into one
versioned index per repository with the backend's own mapping, bulk actions and alias swap, then
opens the backend's reader and times `retrieve` with the fusion in the replica (BM25 and k-NN
in one `_msearch`, RRF here) and, where the cluster has the RRF search pipeline (OpenSearch
>= 2.19), with the fusion on the server (`CODESIFT_OPENSEARCH_HYBRID`). Memory is the cluster's:
JVM heap used and the k-NN plugin's native graph memory. Every index it made is deleted after.
Nothing here runs without a cluster: this machine has none (no Docker engine), so its figures
are not in the README yet.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict

import numpy as np
from opensearchpy import helpers

from services.search.documents import Chunk
from services.search.index import file_kinds
from services.search.indexer import embed_key, embed_text
from services.search.opensearch.client import make_client
from services.search.opensearch.mapping import index_body
from services.search.opensearch.names import new_index_name, read_alias, repo_alias
from services.search.opensearch.reader import OpenSearchIndex
from services.search.opensearch.writer import BULK_CHUNK, OpenSearchStore, bulk_actions, swap_actions
from services.search.settings import SearchSettings

PREFIX = "codesift-bench"


def cluster_memory_mb(client) -> tuple[float, float]:
    """(JVM heap used, k-NN native graph memory) summed over the nodes, in MB."""
    nodes = client.nodes.stats(metric="jvm")["nodes"].values()
    heap = sum(n["jvm"]["mem"]["heap_used_in_bytes"] for n in nodes) / 2**20
    knn = client.transport.perform_request("GET", "/_plugins/_knn/stats")
    graph_kb = sum(n.get("graph_memory_usage", 0) for n in knn.get("nodes", {}).values())
    return heap, graph_kb / 1024


def write(client, settings: SearchSettings, chunks: list[Chunk], vectors: np.ndarray) -> float:
    """Index `chunks` one repository at a time, as the indexer does; seconds taken."""
    started = time.perf_counter()
    rows: dict[str, list[int]] = defaultdict(list)
    for row, chunk in enumerate(chunks):
        rows[chunk.repo].append(row)
    for repo, members in rows.items():
        alias = repo_alias(PREFIX, repo)
        new = new_index_name(alias)
        repo_chunks = [chunks[i] for i in members]
        keys = [embed_key(embed_text(c)) for c in repo_chunks]
        client.indices.create(
            index=new,
            body=index_body(vectors.shape[1], settings.opensearch_shards, settings.opensearch_replicas),
        )
        actions = bulk_actions(new, repo_chunks, file_kinds(repo_chunks), keys, vectors[members])
        helpers.bulk(client, actions, chunk_size=BULK_CHUNK)
        client.indices.refresh(index=new)
        client.indices.update_aliases(body={"actions": swap_actions(alias, read_alias(PREFIX), new, {})})
    return time.perf_counter() - started


def timed(index: OpenSearchIndex, queries: list[str], vectors: np.ndarray, repeats: int) -> list[float]:
    for query, vector in zip(queries[:10], vectors[:10], strict=True):  # warm-up
        index.retrieve(query, vector, 20)
    out: list[float] = []
    for _ in range(repeats):
        for query, vector in zip(queries, vectors, strict=True):
            t = time.perf_counter()
            index.retrieve(query, vector, 20)
            out.append((time.perf_counter() - t) * 1000)
    return sorted(out)


def percentiles(ms: list[float]) -> str:
    return f"{statistics.median(ms):.1f} / {ms[min(len(ms) - 1, int(0.99 * len(ms)))]:.1f}"


def run(
    url: str,
    sizes: list[int],
    chunks: list[Chunk],
    queries: list[str],
    query_vectors: np.ndarray,
    dim: int,
    repeats: int,
) -> None:
    settings = SearchSettings(opensearch_url=url, opensearch_index_prefix=PREFIX)
    client = make_client(settings)
    try:
        info = client.info()
    except Exception as exc:  # no cluster: say so, measure nothing
        print(f"\nOpenSearch at {url}: not run ({type(exc).__name__}: {str(exc)[:200]})")
        return
    print(f"\nOpenSearch {info['version']['number']} at {url}\n")
    print("| chunks | write (bulk + refresh + swap) | heap MB | k-NN graph MB | client-side RRF p50 / p99 ms "
          "| server-side hybrid p50 / p99 ms |")  # fmt: skip
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    rng = np.random.default_rng(0)
    why = ""
    try:
        OpenSearchStore(client, settings).put_pipelines()
        pipelines = True
    except Exception as exc:  # older than 2.19: no RRF processor
        pipelines, why = False, f"{type(exc).__name__}"
    for size in sizes:
        vectors = rng.standard_normal((size, dim), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        try:
            seconds = write(client, settings, chunks[:size], vectors)
            heap, graph = cluster_memory_mb(client)
            client_side = timed(OpenSearchIndex.open(client, settings), queries, query_vectors, repeats)
            hybrid = "not run: " + why if not pipelines else ""
            if pipelines:
                server = SearchSettings(
                    opensearch_url=url, opensearch_index_prefix=PREFIX, opensearch_hybrid=True
                )
                hybrid = percentiles(
                    timed(OpenSearchIndex.open(client, server), queries, query_vectors, repeats)
                )
            print(
                f"| {size:,} | {seconds:.1f} s | {heap:.0f} | {graph:.0f} "
                f"| {percentiles(client_side)} | {hybrid} |"
            )
        finally:
            client.indices.delete(index=f"{PREFIX}-*", params={"ignore_unavailable": "true"})
