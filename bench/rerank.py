"""Rerank latency: the int8 ONNX cross-encoder as replicas serve it vs sentence-transformers, and end to end.

    python -m bench.rerank [--queries 20] [--max-length 144] [--model DIR --hf DIR] [--no-http]

1. Indexes this repository and takes, for golden questions of golden.json, the fusion top 50 (real
   chunks, real queries). For top N = 10/20/50 it times scoring the same pairs with the served
   scorer (onnxruntime, int8, length-sorted batches of CODESIFT_RERANKER_BATCH_SIZE, each padded
   to its longest pair) and with sentence-transformers `CrossEncoder.predict` (PyTorch fp32), and
   the blend with the score cache warm.
2. The cross-encoder's effective GFLOP/s at top 20 — 2 FLOPs per weight of the 6 encoder layers per
   token (padding included: it is computed) plus attention (4·L²·d per layer) — against a plain
   numpy float32 2048³ matmul measured in the same run.
3. A real `codesift up` stack (2 replicas) serving this repository: /api/search p50/p99 over HTTP
   without a reranker, then with the model promoted (pointer + broadcast), reranking the top 20,
   score cache off so every request runs the model.

The model is the tiny test model (trained here in about a minute) unless --model/--hf name an
artifact and its Hugging Face directory: every MiniLM-L6 cross-encoder costs the same to run, and
--max-length (default 144, the longest the trainer picks: `LENGTH_BOUNDS`, and replicas score at the
trained length) is the length scored.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.http_search import http_latency, serve
from services.search.embedding import Embedder
from services.search.index import SearchIndex
from services.search.indexer import index_repository
from services.search.reranking import LoadedReranker, rerank
from services.search.score_cache import ScoreCache
from services.search.settings import SearchSettings
from services.trainer.training import LENGTH_BOUNDS
from shared.schemas import Candidate
from shared.scoring import CrossEncoderScorer
from tests.integration.replicas import embedder_dir, promote, upload_model, wait_for
from tests.integration.stack import Stack

ROOT = Path(__file__).resolve().parent.parent
TOP_NS = (10, 20, 50)
LAYERS, HIDDEN, FFN = 6, 384, 1536  # MiniLM-L6
WEIGHTS_PER_LAYER = 4 * HIDDEN * HIDDEN + 2 * HIDDEN * FFN  # Q, K, V, O and the two feed-forward matrices


Questions = list[tuple[str, list[tuple[str, str]]]]  # (question, [(content hash, text)] in fusion order)


@dataclass
class Timing:
    p50_ms: float
    p90_ms: float
    tokens: float  # mean tokens per pair, after truncation


def percentiles(seconds: Sequence[float]) -> tuple[float, float]:
    ms = np.array(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 90))


# ---------------------------------------------------------------------- model and candidates


def tiny_model(work: Path) -> tuple[Path, Path]:
    """Train the tiny test model; returns (artifact directory, Hugging Face directory)."""
    from services.trainer.export import export_onnx
    from services.trainer.manifest import new_version, publish, staging_dir, write_manifest
    from services.trainer.params import TrainParams
    from services.trainer.training import train_cross_encoder
    from tests.unit.trainer.tiny_corpus import tiny_triplets

    params = TrainParams(
        max_length=64, batch_size=8, epochs=1, negatives_per_query=2, validation_fraction=0.2
    )
    trained = train_cross_encoder(tiny_triplets(36), work / "train", params)
    staging = staging_dir(work / "models")
    exported = export_onnx(trained.hf_dir, staging, trained.parity_pairs)
    version = new_version()
    write_manifest(staging, version=version, training=trained, export=exported)
    return publish(staging, work / "models", version), trained.hf_dir


def candidates(
    index: SearchIndex, questions: Sequence[str], depth: int
) -> list[tuple[str, list[tuple[str, str]]]]:
    """Each question with its fusion top `depth`: (content hash, text) in fusion order."""
    embedder = Embedder(embedder_dir(), quantized=True)
    out = []
    for q in questions:
        hits = index.retrieve(q, embedder.embed_query(q), depth, depth=100)
        out.append((q, [(index.chunks[h.index].content_hash, index.chunks[h.index].text) for h in hits]))
    return out


# ---------------------------------------------------------------------- in-process timings


def time_both(scorer: CrossEncoderScorer, model, pairs: Questions, n: int) -> tuple[Timing, Timing]:
    """The served scorer and `CrossEncoder.predict` on the same pairs, taking turns per question so
    that both see the same load from anything else running on the machine."""
    import torch

    identity = torch.nn.Identity()
    onnx, reference, tokens = [], [], []
    for q, chunks in pairs:
        batch = [(q, text) for _, text in chunks[:n]]
        began = time.perf_counter()
        scorer.score_pairs(batch)
        middle = time.perf_counter()
        model.predict(batch, activation_fn=identity, show_progress_bar=False)
        onnx.append(middle - began)
        reference.append(time.perf_counter() - middle)
        tokens += [len(e.ids) for e in scorer.tokenizer.encode_batch(batch)]
    mean_tokens = float(np.mean(tokens))
    return Timing(*percentiles(onnx), mean_tokens), Timing(*percentiles(reference), mean_tokens)


def time_cached(scorer: CrossEncoderScorer, pairs: Questions, n: int) -> Timing:
    """The served rerank (scores + blend) a second time: every pair comes from the score cache."""
    reranker = LoadedReranker(version="bench", sha256=None, scorer=scorer)
    cache = ScoreCache(100_000)
    seconds = []
    for q, chunks in pairs:
        candidates = [
            _candidate(rank, content_hash, text) for rank, (content_hash, text) in enumerate(chunks, 1)
        ]
        rerank(reranker, cache, q, candidates, n)
        began = time.perf_counter()
        rerank(reranker, cache, q, candidates, n)
        seconds.append(time.perf_counter() - began)
    return Timing(*percentiles(seconds), 0.0)


def _candidate(rank: int, content_hash: str, text: str) -> Candidate:
    """A fusion candidate as a replica passes it to `rerank` (only the hash and text matter here)."""
    return Candidate(
        doc_id=content_hash, repo="codesift", path="", start_line=1, end_line=1, language="",
        chunk_kind="", content_hash=content_hash, text=text, fusion_rank=rank, fusion_score=1 / (60 + rank),
        bm25_rank=None, bm25_score=0.0, vector_rank=None, vector_score=0.0,
    )  # fmt: skip


def flops(scorer: CrossEncoderScorer, pairs: Questions, n: int) -> float:
    """FLOPs the served scorer computes for these pairs: its batches, each padded to its longest."""
    total = 0.0
    for q, chunks in pairs:
        lengths = sorted(len(e.ids) for e in scorer.tokenizer.encode_batch([(q, t) for _, t in chunks[:n]]))
        for start in range(0, len(lengths), scorer.batch_size):
            batch = lengths[start : start + scorer.batch_size]
            width = max(batch)
            per_sequence = 2 * LAYERS * WEIGHTS_PER_LAYER * width + LAYERS * 4 * width * width * HIDDEN
            total += len(batch) * per_sequence
    return total


def matmul_gflops(size: int = 2048, repeats: int = 5) -> float:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((size, size), np.float32), rng.standard_normal((size, size), np.float32)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _timed(work) -> float:
    began = time.perf_counter()
    work()
    return time.perf_counter() - began


# ---------------------------------------------------------------------- end to end


async def _promote(stack: Stack, model_dir: Path, replicas: int) -> None:
    """Upload as the trainer does, promote as the promoter does, each with its own NATS user."""
    trainer, promoter = await stack.nats_connect("trainer"), await stack.nats_connect("promoter")
    try:
        sha256, _ = await upload_model(trainer.jetstream(), model_dir)
        await promote(promoter, promoter.jetstream(), model_dir.name, sha256)
        await wait_for(  # the trainer's user may ping the replicas
            trainer, replicas, lambda info: info.reranker_version == model_dir.name, timeout=180, poll=0.1
        )
    finally:
        await trainer.close()
        await promoter.close()


def end_to_end(index: SearchIndex, model_dir: Path, queries: list[str], work: Path) -> dict[str, dict]:
    os.environ["CODESIFT_RERANKER_CACHE_SIZE"] = "0"  # every request runs the model
    stack = serve(index, work / "data", replicas=2)
    try:
        rows = {"no reranker": http_latency(stack.port, queries, 1)}
        asyncio.run(_promote(stack, model_dir, replicas=2))
        for clients in (1, 4):
            rows[f"rerank top 20, {clients} client{'s' if clients > 1 else ''}"] = http_latency(
                stack.port, queries, clients
            )
        return rows
    finally:
        stack.stop()


# ---------------------------------------------------------------------- report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=20, help="golden questions timed in process")
    parser.add_argument(
        "--max-length", type=int, default=LENGTH_BOUNDS[1], help="tokens per pair (query + chunk)"
    )
    parser.add_argument("--model", type=Path, help="artifact directory (with --hf)")
    parser.add_argument("--hf", type=Path, help="its Hugging Face directory, for CrossEncoder.predict")
    parser.add_argument("--no-http", action="store_true", help="skip the end-to-end HTTP part")
    args = parser.parse_args(argv)
    os.environ["CODESIFT_RERANKER_MAX_LENGTH"] = str(args.max_length)  # replicas of the HTTP part too
    served = SearchSettings(reranker_max_length=args.max_length)

    with tempfile.TemporaryDirectory(prefix="codesift-bench-rerank-") as tmp:
        work = Path(tmp)
        model_dir, hf_dir = (args.model, args.hf) if args.model and args.hf else tiny_model(work)
        index, _ = index_repository(ROOT, "codesift", None, Embedder(embedder_dir(), quantized=True))
        golden = json.loads((ROOT / "golden.json").read_text())
        questions = [g["q"] for g in golden]
        pairs = candidates(index, questions[: args.queries], max(TOP_NS))

        scorer = CrossEncoderScorer(
            model_dir, quantized=True, max_length=args.max_length, batch_size=served.reranker_batch_size
        )
        scorer.score("warm up", ["def f():\n    pass\n"])
        from sentence_transformers.cross_encoder import CrossEncoder

        reference = CrossEncoder(str(hf_dir), device="cpu", max_length=args.max_length, local_files_only=True)
        rows = {n: time_both(scorer, reference, pairs, n) for n in TOP_NS}
        cached = time_cached(scorer, pairs, 20)
        matmul = matmul_gflops()
        began = time.perf_counter()
        for q, chunks in pairs:
            scorer.score(q, [text for _, text in chunks[:20]])
        effective = flops(scorer, pairs, 20) / (time.perf_counter() - began) / 1e9
        http = None if args.no_http else end_to_end(index, model_dir, questions, work)

    print(f"\n## codesift rerank bench ({os.cpu_count()} CPUs, max length {args.max_length})\n")
    print(
        f"| top N ({len(pairs)} golden questions, {len(index.chunks)} chunks of this repo) | tokens/pair "
        f"| ONNX int8 served p50 / p90 ms | CrossEncoder.predict p50 / p90 ms | speed-up (p50) |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    for n, (onnx, torch_) in rows.items():
        print(
            f"| {n} | {onnx.tokens:.0f} | {onnx.p50_ms:.0f} / {onnx.p90_ms:.0f} "
            f"| {torch_.p50_ms:.0f} / {torch_.p90_ms:.0f} | {torch_.p50_ms / onnx.p50_ms:.1f}x |"
        )
    print(f"| 20, scores cached (blend only) | | {cached.p50_ms:.2f} / {cached.p90_ms:.2f} | | |")
    print(
        f"\ncross-encoder at top 20: {effective:.0f} effective GFLOP/s (int8, padding counted); "
        f"numpy float32 matmul 2048³: {matmul:.0f} GFLOP/s in the same run "
        f"({effective / matmul:.0%})"
    )
    if http:
        title = f"/api/search over HTTP, k=10, {len(questions)} queries, 2 replicas"
        print(f"\n| {title} | p50 ms | p99 ms | req/s | errors |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for name, r in http.items():
            print(f"| {name} | {r['p50']:.0f} | {r['p99']:.0f} | {r['rps']:.1f} | {r['errors']} |")


if __name__ == "__main__":
    main()
