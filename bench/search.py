"""Benchmark the search service in process: indexing speed, caching, query latency and quality.

    python -m bench.search [--repo PATH ...] [--library NAME] [--max-chunks N] [--no-http] [--replicas N]

Indexes this repository (or each --repo) and the source of an installed library (default
`transformers`) with the int8 embedder, re-indexes them unchanged and with one function edited,
compares int8 with fp32 embeddings on a sample, then times ≥ 100 natural-language queries against
the library's index (golden questions in bench/golden_<library>.json, which also give MRR).
Everything is indexed from a copy in a temporary directory: the edit never touches the source.
Last, a real `codesift up` stack (2 replicas) serves the library's index and 1 and 8 concurrent
HTTP clients query /api/search end to end. Prints markdown tables.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.http_search import http_latency, http_table, serve
from services.search.chunking import chunk_file
from services.search.embedding import Embedder
from services.search.export_embedder import ensure_embedder
from services.search.files import walk_repository
from services.search.index import SearchIndex
from services.search.indexer import IndexStats, embed_text, index_repository
from services.search.vectors import nearest
from shared.settings import settings
from shared.tokens import query_tokens

ROOT = Path(__file__).resolve().parent.parent
# transformers has ~44,000 chunks (about 16 minutes of int8 embedding on 2 cores): the bench takes
# the library's core (everything outside models/) and these model families, ~10,600 chunks.
TRANSFORMERS_MODELS = frozenset(
    {
        "auto", "bert", "gpt2", "llama", "t5", "whisper", "clip", "vit", "roberta", "bart", "mistral",
        "distilbert", "qwen2", "gemma", "mixtral", "encoder_decoder", "wav2vec2", "sam", "blip", "electra",
        "detr", "gpt_neox", "opt", "bloom", "falcon", "phi",
    }
)  # fmt: skip
FP32_SAMPLE = 256
QUERY_REPEATS = 3
DEPTH, K = 100, 10


@dataclass
class RepoResult:
    name: str
    files: int
    fresh: IndexStats
    unchanged: IndexStats
    edited: IndexStats
    edited_path: str
    index: SearchIndex
    note: str = ""


# ---------------------------------------------------------------------- corpora


def library_root(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"--library {name}: not an installed package")
    return Path(next(iter(spec.submodule_search_locations)))


def library_filter(name: str) -> Callable[[str], bool]:
    if name != "transformers":
        return lambda path: True
    return lambda path: (
        not path.startswith("models/") or path.count("/") < 2 or path.split("/")[1] in TRANSFORMERS_MODELS
    )


def copy_sources(source: Path, dest: Path, keep: Callable[[str], bool], max_chunks: int) -> tuple[int, str]:
    """Copy the files the indexer would read (those `keep` accepts) until max_chunks; return
    (chunks copied, a note on what was left out)."""
    chunks = skipped = 0
    for file in walk_repository(source):
        if not keep(file.path):
            skipped += 1
            continue
        count = len(chunk_file(file))
        if chunks + count > max_chunks:
            skipped += 1
            continue
        chunks += count
        target = dest / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(file.text, encoding="utf-8")
    return chunks, f"{skipped} files left out" if skipped else ""


def edit_one_function(root: Path, index: SearchIndex, repo: str) -> str:
    """Insert a comment line into one mid-sized function of the repository; return its path."""
    functions = sorted(
        (
            c
            for c in index.chunks
            if c.repo == repo and c.kind in ("function", "method") and c.path.endswith(".py")
        ),
        key=lambda c: c.doc_id,
    )
    candidates = [c for c in functions if 8 <= c.end_line - c.start_line <= 40] or functions
    chunk = candidates[len(candidates) // 2]
    path = root / chunk.path
    lines = path.read_text(encoding="utf-8").split("\n")
    body = lines[chunk.start_line]  # the line after the def
    indent = body[: len(body) - len(body.lstrip())]
    lines.insert(chunk.start_line, f"{indent}# edited by bench/search.py")
    path.write_text("\n".join(lines), encoding="utf-8")
    return chunk.path


# ---------------------------------------------------------------------- measurements


def bench_repository(root: Path, name: str, embedder: Embedder, note: str = "") -> RepoResult:
    """Index `root` fresh, again unchanged, and again after editing one function."""
    index, fresh = index_repository(root, name, None, embedder)
    index, unchanged = index_repository(root, name, index, embedder)
    edited_path = edit_one_function(root, index, name)
    index, edited = index_repository(root, name, index, embedder)
    return RepoResult(name, fresh.files, fresh, unchanged, edited, edited_path, index, note)


def embedding_parity(export_dir: Path, texts: Sequence[str]) -> dict[str, float]:
    """int8 vs fp32 on the same texts: throughput of each and their cosines."""
    result: dict[str, float] = {}
    embeddings = {}
    for label, quantized in (("int8", True), ("fp32", False)):
        embedder = Embedder(export_dir, quantized=quantized)
        embedder.embed(texts[:4])  # warm up the session
        started = time.perf_counter()
        embeddings[label] = embedder.embed(texts)
        result[f"{label}_per_s"] = len(texts) / (time.perf_counter() - started)
    cosines = (embeddings["int8"] * embeddings["fp32"]).sum(axis=1)
    tokens = [len(e.ids) for e in Embedder(export_dir).tokenizer.encode_batch(list(texts))]
    result |= {
        "cos_mean": float(cosines.mean()),
        "cos_min": float(cosines.min()),
        "tokens": float(np.mean(tokens)),
    }
    return result


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.array(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def query_latency(
    index: SearchIndex, embedder: Embedder, queries: Sequence[str]
) -> dict[str, tuple[float, float]]:
    """p50/p99 in ms of what a replica does per query, by stage; each query QUERY_REPEATS times."""
    stages: dict[str, Callable[[str], object]] = {
        "BM25 (tokenize + score + top 100)": lambda q: index.bm25.top(query_tokens(q), DEPTH),
        "query embedding (int8)": embedder.embed_query,
        "vectors (embed query + top 100)": lambda q: nearest(index.vectors, embedder.embed_query(q), DEPTH),
        "fusion (embed + BM25 + vectors + RRF, k=10)": lambda q: index.retrieve(
            q, embedder.embed_query(q), K, depth=DEPTH
        ),
    }
    result = {}
    for label, run in stages.items():
        for q in queries[:5]:
            run(q)  # warm up
        times = []
        for _ in range(QUERY_REPEATS):
            for q in queries:
                started = time.perf_counter()
                run(q)
                times.append(time.perf_counter() - started)
        result[label] = percentiles(times)
    return result


def first_hit(index: SearchIndex, docs: Sequence[int], expect: Sequence[str]) -> int | None:
    for rank, doc in enumerate(docs[:K], start=1):
        if any(e in index.chunks[doc].path for e in expect):
            return rank
    return None


def quality(index: SearchIndex, embedder: Embedder, golden: list[dict]) -> dict[str, dict[str, float]]:
    """MRR@10 and Hit@1/10 of each retriever on golden questions (a hit: path contains expect_paths)."""
    ranks: dict[str, list[int | None]] = {"BM25": [], "vectors": [], "fusion": []}
    for item in golden:
        vector = embedder.embed_query(item["q"])
        ranks["BM25"].append(
            first_hit(index, [d for d, _ in index.bm25.top(query_tokens(item["q"]), K)], item["expect_paths"])
        )
        ranks["vectors"].append(
            first_hit(index, [d for d, _ in nearest(index.vectors, vector, K)], item["expect_paths"])
        )
        fused = index.retrieve(item["q"], vector, K, depth=DEPTH)
        ranks["fusion"].append(first_hit(index, [h.index for h in fused], item["expect_paths"]))
    return {
        mode: {
            "mrr": statistics.mean(1 / r if r else 0.0 for r in found),
            "hit1": statistics.mean(r == 1 for r in found),
            "hit10": statistics.mean(r is not None for r in found),
        }
        for mode, found in ranks.items()
    }


# ---------------------------------------------------------------------- report


def indexing_table(results: Sequence[RepoResult]) -> str:
    rows = [
        "| repository | files | chunks | index (int8) | chunks/s | re-index unchanged: embedded, s "
        "| one function edited: re-embedded, s | index size |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        size = len(r.index.to_archive()) / 2**20
        rows.append(
            f"| {r.name}{f' ({r.note})' if r.note else ''} | {r.files} | {r.fresh.chunks} "
            f"| {r.fresh.seconds:.1f} s | {r.fresh.chunks_per_second:.1f} "
            f"| {r.unchanged.embedded}, {r.unchanged.seconds:.1f} s "
            f"| {r.edited.embedded} (`{r.edited_path}`), {r.edited.seconds:.1f} s | {size:.1f} MiB tar.gz |"
        )
    return "\n".join(rows)


def parity_table(p: dict[str, float], sample: int) -> str:
    return "\n".join(
        [
            f"| embedder ({sample} chunks, mean {p['tokens']:.0f} tokens) | chunks/s "
            "| cosine vs fp32 (mean / min) |",
            "| --- | ---: | ---: |",
            f"| int8 (dynamic, per-channel) | {p['int8_per_s']:.1f} "
            f"| {p['cos_mean']:.4f} / {p['cos_min']:.4f} |",
            f"| fp32 | {p['fp32_per_s']:.1f} | 1 |",
        ]
    )


def latency_table(
    latency: dict[str, tuple[float, float]],
    scores: dict[str, dict[str, float]] | None,
    n_queries: int,
    chunks: int,
) -> str:
    rows = [
        f"| per query ({n_queries} queries × {QUERY_REPEATS}, {chunks} chunks) | p50 ms | p99 ms |",
        "| --- | ---: | ---: |",
    ]
    rows += [f"| {label} | {p50:.2f} | {p99:.2f} |" for label, (p50, p99) in latency.items()]
    if scores:
        rows += [
            "",
            f"| retriever ({n_queries} golden questions) | MRR@10 | Hit@1 | Hit@10 |",
            "| --- | ---: | ---: | ---: |",
        ]
        rows += [f"| {m} | {s['mrr']:.3f} | {s['hit1']:.3f} | {s['hit10']:.3f} |" for m, s in scores.items()]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, action="append", help="repository to index (default: this one)")
    parser.add_argument("--library", default="transformers", help="installed package whose source is indexed")
    parser.add_argument("--max-chunks", type=int, default=12_000, help="cap on the library's chunks")
    parser.add_argument("--no-http", action="store_true", help="skip the end-to-end HTTP part")
    parser.add_argument("--replicas", type=int, default=2, help="search replicas for the HTTP part")
    args = parser.parse_args(argv)

    export_dir = ensure_embedder(settings().cache_dir)
    embedder = Embedder(export_dir, quantized=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="codesift-bench-") as tmp:
        for repo in args.repo or [ROOT]:
            copy = Path(tmp) / repo.resolve().name
            copy_sources(repo, copy, lambda path: True, max_chunks=10**9)
            results.append(bench_repository(copy, repo.resolve().name, embedder))
        library = Path(tmp) / args.library
        _, note = copy_sources(
            library_root(args.library), library, library_filter(args.library), args.max_chunks
        )
        if args.library == "transformers":
            note = f"core + {len(TRANSFORMERS_MODELS)} model families; " + note
        results.append(bench_repository(library, args.library, embedder, note.strip("; ")))
    big = results[-1].index

    sample = random.Random(0).sample(big.chunks, min(FP32_SAMPLE, len(big.chunks)))
    parity = embedding_parity(export_dir, [embed_text(c) for c in sample])

    golden_file = ROOT / "bench" / f"golden_{args.library}.json"
    golden_path = golden_file if golden_file.exists() else ROOT / "bench" / "golden_transformers.json"
    golden = json.loads(golden_path.read_text())
    latency = query_latency(big, embedder, [g["q"] for g in golden])
    scores = quality(big, embedder, golden) if golden_file.exists() else None

    print(f"\n## codesift search bench ({os.cpu_count()} CPUs, int8 embedder, depth {DEPTH})\n")
    print(indexing_table(results), end="\n\n")
    print(parity_table(parity, len(sample)), end="\n\n")
    print(latency_table(latency, scores, len(golden), len(big.chunks)))

    if not args.no_http:
        with tempfile.TemporaryDirectory(prefix="codesift-bench-stack-") as tmp:
            stack = serve(big, Path(tmp) / "data", replicas=args.replicas)
            try:
                queries = [g["q"] for g in golden]
                rows = {n: http_latency(stack.port, queries, n) for n in (1, 8)}
            finally:
                stack.stop()
        print()
        print(http_table(rows, len(big.chunks), args.replicas))


if __name__ == "__main__":
    main()
