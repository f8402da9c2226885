"""How the embedded index grows: index time, replica memory and search latency at 10k-200k chunks.

    python -m bench.scale [--sizes 10000,50000,200000] [--queries 200] [--repeats 3]

The chunks are real code: the chunker's output over the venv's installed packages (site-packages,
in path order, one repository per top-level package), the first N of them for each size. Their
vectors are random unit vectors of the embedder's dimension: exact cosine search costs the same
for any values, and embedding 200,000 chunks takes ~80 minutes here. The embedding time a real
index of each size needs is projected from the int8 embedder's throughput measured on a sample.
The queries are every golden question (golden.json, bench/golden_*.json), embedded for real.

With --opensearch URL the same chunks and queries go to a cluster too (bench/scale_opensearch.py).

Each size runs in two fresh processes, as in production: an indexer that builds the index and
its snapshot archive (BM25 over code tokens, content version, archive bytes), then a replica that
loads the archive the way a replica does, computes the file kinds, and answers the queries
(BM25 + vector top 100 each, RRF, first 20: what happens before the reranker, which costs the
same at any index size). Memory is the replica's resident set after loading and after the
queries, minus the same process's before loading; peak is the process's high-water mark.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import msgspec
import numpy as np
import psutil

from services.search.documents import Chunk

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = [ROOT / "golden.json", *sorted((ROOT / "bench").glob("golden_*.json"))]
EMBED_SAMPLE = 256
DEPTH, K = 100, 20


# ---------------------------------------------------------------------- corpus (parent)


def venv_chunks(limit: int) -> list[Chunk]:
    """The first `limit` chunks of the venv's packages, each package its own repository."""
    from services.search.chunking import chunk_file
    from services.search.files import walk_repository

    site = Path(sysconfig.get_paths()["purelib"])
    chunks: list[Chunk] = []
    skip = (".dist-info", ".libs")
    packages = sorted(p for p in site.iterdir() if p.is_dir() and not p.name.endswith(skip))
    for package in packages:
        if package.name.startswith(("_", ".")):
            continue
        for source in walk_repository(package):
            for chunk in chunk_file(source):
                chunk.repo = package.name
                chunks.append(chunk)
            if len(chunks) >= limit:
                return chunks[:limit]
    if len(chunks) < limit:
        raise SystemExit(f"the venv holds {len(chunks)} chunks, fewer than --sizes asks for ({limit})")
    return chunks


def golden_queries(limit: int) -> list[str]:
    questions: list[str] = []
    for path in GOLDEN:
        questions += [q["q"] for q in json.loads(path.read_text())]
    return questions[:limit]


def embed_sample(chunks: list[Chunk], queries: list[str]) -> tuple[float, np.ndarray, int]:
    """(int8 chunks/s on a sample, the query vectors, the embedder's dimension)."""
    from services.search.embedding import Embedder
    from services.search.export_embedder import ensure_embedder
    from services.search.indexer import embed_text
    from shared.settings import settings

    embedder = Embedder(ensure_embedder(settings().cache_dir), quantized=True)
    step = max(1, len(chunks) // EMBED_SAMPLE)
    sample = [embed_text(c) for c in chunks[::step][:EMBED_SAMPLE]]
    embedder.embed(sample[:8])  # warm-up
    started = time.perf_counter()
    embedder.embed(sample)
    rate = len(sample) / (time.perf_counter() - started)
    return rate, embedder.embed(queries), embedder.dim


# ---------------------------------------------------------------------- workers (fresh processes)


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def peak_mb() -> float:
    """This process's resident high-water mark (VmHWM: unlike ru_maxrss, not inherited over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_worker(chunks_file: Path, size: int, dim: int, archive: Path) -> dict[str, float]:
    from services.search.index import SearchIndex
    from services.search.indexer import embed_key, embed_text

    chunks = msgspec.msgpack.decode(chunks_file.read_bytes(), type=list[Chunk])[:size]
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((size, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    keys = [embed_key(embed_text(c)) for c in chunks]
    started = time.perf_counter()
    index = SearchIndex.build(chunks, vectors, keys)
    built = time.perf_counter()
    data = index.to_archive()
    archived = time.perf_counter()
    archive.write_bytes(data)
    return {
        "build_s": built - started,
        "archive_s": archived - built,
        "archive_mb": len(data) / 2**20,
        "build_peak_mb": peak_mb(),
    }


def serve_worker(archive: Path, queries_file: Path, repeats: int) -> dict[str, float]:
    from services.search.index import SearchIndex
    from shared.tokens import query_tokens

    payload = json.loads(queries_file.read_text())
    queries, vectors = payload["queries"], np.asarray(payload["vectors"], dtype=np.float32)
    query_tokens("warm up the tokenizer")
    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    index = SearchIndex.from_archive(archive.read_bytes(), archive.name)
    kinds = index.file_kinds
    load_s = time.perf_counter() - started
    gc.collect()
    loaded = rss_mb()
    for query, vector in zip(queries[:10], vectors[:10], strict=True):  # warm-up, not timed
        index.retrieve(query, vector, K, depth=DEPTH)
    timings: list[float] = []
    for _ in range(repeats):
        for query, vector in zip(queries, vectors, strict=True):
            t = time.perf_counter()
            index.retrieve(query, vector, K, depth=DEPTH)
            timings.append((time.perf_counter() - t) * 1000)
    repos = sorted(index.repos(), key=lambda r: -index.repos()[r])
    scoped: list[float] = []
    for query, vector in zip(queries, vectors, strict=True):  # within the largest repository
        t = time.perf_counter()
        index.retrieve(query, vector, K, repo=repos[0], depth=DEPTH)
        scoped.append((time.perf_counter() - t) * 1000)
    timings.sort()
    return {
        "load_s": load_s,
        "memory_mb": loaded - before,
        "after_queries_mb": rss_mb() - before,
        "peak_mb": peak_mb(),
        "p50_ms": statistics.median(timings),
        "p99_ms": timings[min(len(timings) - 1, int(0.99 * len(timings)))],
        "repo_p50_ms": statistics.median(scoped),
        "repos": len(repos),
        "kinds": len(set(kinds)),
    }


def run_worker(*args: str) -> dict[str, float]:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "bench.scale", "--worker", *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"worker {args[0]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,50000,200000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--opensearch", metavar="URL", help="also measure the OpenSearch backend there")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, *rest = args.worker
        if kind == "build":
            result = build_worker(Path(rest[0]), int(rest[1]), int(rest[2]), Path(rest[3]))
        else:
            result = serve_worker(Path(rest[0]), Path(rest[1]), int(rest[2]))
        print(json.dumps(result))
        return

    sizes = sorted(int(s) for s in args.sizes.split(","))
    started = time.perf_counter()
    chunks = venv_chunks(sizes[-1])
    chunk_s = time.perf_counter() - started
    queries = golden_queries(args.queries)
    rate, query_vectors, dim = embed_sample(chunks, queries)
    print(
        f"{len(chunks):,} chunks of {len({c.repo for c in chunks})} packages chunked in {chunk_s:.1f} s; "
        f"{len(queries)} queries x {args.repeats}; int8 embedding {rate:.1f} chunks/s "
        f"on {EMBED_SAMPLE} of them; {os.cpu_count()} CPUs\n"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        chunks_file, queries_file = Path(tmp) / "chunks.msgpack", Path(tmp) / "queries.json"
        chunks_file.write_bytes(msgspec.msgpack.encode(chunks))
        queries_file.write_text(json.dumps({"queries": queries, "vectors": query_vectors.tolist()}))
        for size in sizes:
            archive = Path(tmp) / f"index-{size}.tar.gz"
            build = run_worker("build", str(chunks_file), str(size), str(dim), str(archive))
            serve = run_worker("serve", str(archive), str(queries_file), str(args.repeats))
            rows.append((size, build, serve))
            archive.unlink()

    print(
        "| chunks | embed (projected) | build BM25 + version | snapshot archive | archive MB "
        "| replica load | replica memory MB | after queries MB | replica peak MB "
        "| retrieve p50 ms | p99 ms | one repo p50 ms |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for size, b, s in rows:
        print(
            f"| {size:,} | {size / rate / 60:.0f} min | {b['build_s']:.1f} s | {b['archive_s']:.1f} s "
            f"| {b['archive_mb']:.0f} | {s['load_s']:.1f} s | {s['memory_mb']:.0f} "
            f"| {s['after_queries_mb']:.0f} | {s['peak_mb']:.0f} | {s['p50_ms']:.1f} "
            f"| {s['p99_ms']:.1f} | {s['repo_p50_ms']:.1f} |"
        )
    if len(rows) >= 2:
        (n0, _, s0), (n1, _, s1) = rows[0], rows[-1]
        per_10k = (s1["after_queries_mb"] - s0["after_queries_mb"]) / (n1 - n0) * 10_000
        growth = s1["p50_ms"] / s0["p50_ms"]
        print(
            f"\nreplica memory: {per_10k:.0f} MB per 10,000 chunks (slope {n0:,} -> {n1:,}); "
            f"retrieve p50 x{growth:.1f} for x{n1 / n0:.1f} chunks"
        )
    if args.opensearch:
        from bench.scale_opensearch import run

        run(args.opensearch, sizes, chunks, queries, query_vectors, dim, args.repeats)
    else:
        print("\nOpenSearch: not run (no --opensearch URL; this machine has no cluster)")


if __name__ == "__main__":
    main()
