"""Benchmark learning on this repository's bootstrap set: mining, training speed, export, scoring.

    python -m bench.train [--repo PATH] [--budget SECONDS] [--speed-steps N]

1. Mine the bootstrap triplets (docstrings -> code) from the repository's chunks; hard negatives
   come from an in-process BM25 index over the same chunks (the service asks the search replicas
   for fused BM25 + vector candidates instead; mining itself is the same code).
2. Training speed at max length 128 and 256: a fixed number of BCE steps (batch 16) each.
3. A real training run on the bootstrap set, stopped by a time budget, with validation.
4. Export to ONNX + int8 with the parity check, manifest and publication; sizes and timings.
5. Scoring speed of 50 (query, chunk) pairs with the ONNX fp32 and int8 models.
Prints markdown tables. About 6 minutes on 2 cores with the defaults.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from services.search.bm25 import BM25Index
from services.search.chunking import chunk_file
from services.search.files import walk_repository
from services.search.index import bm25_tokens
from services.trainer.export import export_onnx
from services.trainer.manifest import new_version, publish, staging_dir, write_manifest
from services.trainer.mining.bootstrap import mine_bootstrap
from services.trainer.params import TrainParams
from services.trainer.training import TrainResult, train_cross_encoder
from shared.schemas import Candidate, ChunkRecord, Triplet
from shared.scoring import CrossEncoderScorer
from shared.tokens import query_tokens

ROOT = Path(__file__).resolve().parent.parent
REPO = "codesift"
BATCH = 16
SCORING_PAIRS = 50


def repository_chunks(root: Path) -> list[ChunkRecord]:
    return [
        ChunkRecord(c.doc_id, REPO, c.path, c.start_line, c.end_line, c.language, c.kind, c.symbol, c.text)
        for file in walk_repository(root)
        for c in chunk_file(file)
    ]


def bm25_candidates(chunks: list[ChunkRecord]) -> Callable[[str, str | None, int], list[Candidate]]:
    from services.search.documents import Chunk

    index = BM25Index.build(
        [
            bm25_tokens(Chunk(c.path, c.start_line, c.end_line, c.text, c.language, c.chunk_kind))
            for c in chunks
        ]
    )

    def candidates(query: str, repo: str | None, k: int) -> list[Candidate]:
        found = []
        for rank, (i, score) in enumerate(index.top(query_tokens(query), k), start=1):
            c = chunks[i]
            found.append(
                Candidate(
                    c.doc_id, c.repo, c.path, c.start_line, c.end_line, c.language, c.chunk_kind, "", c.text,
                    rank, score, rank, score, None, 0.0,
                )
            )  # fmt: skip
        return found

    return candidates


def training_speed(triplets: list[Triplet], max_length: int, steps: int, work: Path) -> TrainResult:
    """`steps` BCE steps of batch 16 (one negative per query), no validation."""
    params = TrainParams(
        max_length=max_length,
        batch_size=BATCH,
        negatives_per_query=1,
        validation_fraction=0.0,
        time_budget_s=None,
    )
    sample = [t for t in triplets if t.negative_texts][: steps * BATCH // 2]
    return train_cross_encoder(sample, work / f"speed-{max_length}", params)


def scoring_speed(model_dir: Path, pairs: list[tuple[str, str]], quantized: bool) -> float:
    scorer = CrossEncoderScorer(model_dir, quantized=quantized)
    scorer.score_pairs(pairs[:4])  # warm-up
    began = time.perf_counter()
    scorer.score_pairs(pairs)
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, default=ROOT, help="the repository to mine (default: this one)")
    parser.add_argument("--budget", type=float, default=150.0, help="seconds for the real training run")
    parser.add_argument("--speed-steps", type=int, default=8, help="training steps per speed measurement")
    args = parser.parse_args(argv)
    rows: list[tuple[str, str]] = []

    began = time.perf_counter()
    chunks = repository_chunks(args.repo)
    chunked = time.perf_counter()
    triplets, stats = mine_bootstrap(chunks, bm25_candidates(chunks))
    mined = time.perf_counter()
    rows += [
        ("chunks (files walked and chunked)", f"{len(chunks)} in {chunked - began:.1f} s"),
        ("bootstrap mining (BM25 negatives)", f"{len(triplets)} triplets in {mined - chunked:.1f} s"),
        ("triplets without negatives", str(stats.without_negatives)),
    ]
    print(f"mined {len(triplets)} triplets", flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        work = Path(tmp)
        for length in (128, 256):
            speed = training_speed(triplets, length, args.speed_steps, work)
            rate = f"{speed.pairs_per_s:.1f} pairs/s ({speed.steps} steps)"
            rows.append((f"training, BCE, batch {BATCH}, max length {length}", rate))
            print(rows[-1], flush=True)

        params = TrainParams(time_budget_s=args.budget)
        run = train_cross_encoder(triplets, work / "run", params)
        before, after = run.validation[0], run.validation[-1]
        setup = f"{params.loss}, {params.negatives_per_query} negatives, budget {args.budget:.0f} s"
        rows += [
            ("pair length p90 -> max length", f"{run.pair_length_p90} -> {run.params.max_length} tokens"),
            (
                f"training run ({setup})",
                f"{run.steps}/{run.planned_steps} steps, {run.epochs_completed:.2f} epochs, "
                f"{run.train_seconds:.0f} s, {run.pairs_per_s:.1f} pairs/s, {run.stop_reason}",
            ),
            (
                f"validation MRR ({run.validation_triplets} held-out queries)",
                f"{before.mrr:.3f} untrained -> {after.mrr:.3f} at step {after.step}",
            ),
        ]
        print(rows[-2:], flush=True)

        models = work / "models"
        staging = staging_dir(models)
        exported = export_onnx(run.hf_dir, staging, run.parity_pairs)
        version = new_version()
        write_manifest(staging, version=version, training=run, export=exported)
        final = publish(staging, models, version)
        fp32_mib, int8_mib = (exported.sizes[name] / (1 << 20) for name in ("model.onnx", "model.int8.onnx"))
        rows += [
            (
                "export (optimum) / int8",
                f"{exported.export_seconds:.1f} s / {exported.quantize_seconds:.1f} s",
            ),
            ("model size fp32 / int8", f"{fp32_mib:.1f} MiB / {int8_mib:.1f} MiB"),
            (
                f"parity on {exported.pairs} pairs: fp32 max abs diff, Spearman",
                f"{exported.fp32.max_abs_diff:.1e}, {exported.fp32.spearman:.5f}",
            ),
            (
                "parity: int8 max abs diff, relative error (mean / score std), Spearman",
                f"{exported.int8.max_abs_diff:.3f}, {exported.int8.rel_error:.3f}, "
                f"{exported.int8.spearman:.4f}",
            ),
        ]
        pairs = [(t.query, text) for t in triplets for text in (t.positive_text, *t.negative_texts)]
        pairs = pairs[:: max(1, len(pairs) // SCORING_PAIRS)][:SCORING_PAIRS]
        fp32 = scoring_speed(final, pairs, quantized=False)
        int8 = scoring_speed(final, pairs, quantized=True)
        rows.append(
            (
                f"scoring {len(pairs)} pairs at max length {exported.max_length}: fp32 / int8",
                f"{fp32:.2f} s / {int8:.2f} s ({fp32 / int8:.1f}x)",
            )
        )
    rows.append(("bench wall time", f"{time.perf_counter() - began:.0f} s"))
    print("\n| measure | value |\n| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
