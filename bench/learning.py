"""The whole learning loop on a repository and its golden questions, in process, without the stack.

    python -m bench.learning REPO GOLDEN [--name NAME] [--time-budget SECONDS] [--top-n N]

1. Index REPO with the search service's own modules (int8 MiniLM vectors + BM25, fused by RRF).
   Vectors are kept under CACHE_DIR/bench-learning between runs: a second run embeds only what
   changed.
2. Split the golden questions with the shared rule (`shared.golden`): the train side is mined,
   the eval side is only ever scored. Mine bootstrap triplets (documentation -> code, source
   files) and golden triplets from the train side, with hard negatives from the fusion
   candidates, and drop any triplet near an eval question (the trainer's firewall).
3. Fine-tune the MiniLM cross-encoder within the time budget; export ONNX + int8 (parity check).
4. On the eval side, the same 50 fusion candidates per question ranked three ways: fusion order,
   the int8 cross-encoder alone over the top N, and the fused-rank blend a replica serves
   (`shared.blend`). MRR@10, Hit@1, Hit@5, and the paired bootstrap 95% interval of the MRR@10
   difference against fusion.
Prints markdown tables. About 8 minutes on 2 cores for this repository with the defaults.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from services.evaluator.comparison import compare
from services.evaluator.rankers import cross_encoder_alone, fusion_order, served
from services.search.embedding import Embedder
from services.search.export_embedder import ensure_embedder
from services.search.index import IndexFormatError, SearchIndex
from services.search.indexer import IndexStats, index_repository
from services.trainer.export import export_onnx
from services.trainer.manifest import new_version, publish, staging_dir, write_manifest
from services.trainer.mining import firewall, mine_bootstrap, mine_golden
from services.trainer.mining.golden import CandidateSearch
from services.trainer.params import TrainParams
from services.trainer.training import train_cross_encoder
from shared.golden import read_golden, split_golden
from shared.schemas import Candidate, ChunkRecord, GoldenQuestion
from shared.scoring import CrossEncoderScorer
from shared.settings import settings

CANDIDATES = 50  # per eval question, as the evaluator asks
RETRIEVAL_DEPTH = 100  # per retriever before fusion, the replicas' default
RANKERS = {
    "none": "fusion (no reranker)",
    "cross-encoder": "cross-encoder alone",
    "blend": "fused-rank blend (served)",
}


class MemoScorer:
    """A scorer that scores each (query, text) pair once: both rankers reuse the same logits."""

    def __init__(self, scorer: CrossEncoderScorer):
        self.scorer = scorer
        self.known: dict[tuple[str, str], float] = {}
        self.seconds = 0.0

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if (query, t) not in self.known))
        if missing:
            began = time.perf_counter()
            self.known.update(
                zip(((query, t) for t in missing), self.scorer.score(query, missing), strict=True)
            )
            self.seconds += time.perf_counter() - began
        return np.array([self.known[(query, t)] for t in texts], dtype=np.float32)


def build_index(root: Path, name: str, embedder: Embedder, cache: Path) -> tuple[SearchIndex, IndexStats]:
    """Index `root` as repository `name`, reusing the vectors of the last run's index."""
    saved = cache / name
    previous = None
    if saved.exists():
        try:
            previous = SearchIndex.load(saved)
        except (IndexFormatError, OSError, ValueError):
            previous = None
    index, stats = index_repository(root, name, previous, embedder)
    index.save(saved)
    return index, stats


def candidate_search(index: SearchIndex, embedder: Embedder) -> CandidateSearch:
    """What `codesift.search.candidates` answers, computed in process."""

    def search(query: str, repo: str | None, k: int) -> list[Candidate]:
        hits = index.retrieve(query, embedder.embed_query(query), k, repo=repo, depth=RETRIEVAL_DEPTH)
        return [
            Candidate(
                doc_id=(c := index.chunks[h.index]).doc_id, repo=c.repo, path=c.path,
                start_line=c.start_line, end_line=c.end_line, language=c.language, chunk_kind=c.kind,
                content_hash=c.content_hash, text=c.text, fusion_rank=h.fusion_rank,
                fusion_score=h.fusion_score, bm25_rank=h.bm25_rank, bm25_score=h.bm25_score,
                vector_rank=h.vector_rank, vector_score=h.vector_score,
            )
            for h in hits
        ]  # fmt: skip

    return search


def chunk_records(index: SearchIndex, repo: str) -> list[ChunkRecord]:
    return [
        ChunkRecord(c.doc_id, c.repo, c.path, c.start_line, c.end_line, c.language, c.kind, c.symbol, c.text)
        for c in index.chunks
        if c.repo == repo
    ]


def golden_sides(path: Path, repo: str | None) -> tuple[str, list[GoldenQuestion], list[GoldenQuestion]]:
    """(repository, train side, eval side) of the golden questions about one repository."""
    questions = read_golden(path)
    repo = repo or Counter(q.repo for q in questions).most_common(1)[0][0]
    train, held_out = split_golden([q for q in questions if q.repo == repo])
    if not held_out:
        raise SystemExit(f"{path}: the eval side of the {repo!r} questions is empty; nothing to score")
    return repo, train, held_out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", type=Path, help="the repository to index and mine")
    parser.add_argument("golden", type=Path, help="golden questions ([{q, repo, expect_paths}])")
    parser.add_argument("--name", help="the repository's name in the golden file (default: its most common)")
    parser.add_argument("--time-budget", type=float, default=300.0, help="seconds of training (default 300)")
    parser.add_argument("--top-n", type=int, default=20, help="candidates the cross-encoder reorders")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    rows: list[tuple[str, str]] = []

    # 1. index
    name, train_side, held_out = golden_sides(args.golden, args.name)
    embedder = Embedder(ensure_embedder(settings().cache_dir), quantized=True)
    index, stats = build_index(args.repo, name, embedder, settings().cache_dir / "bench-learning")
    rows.append(
        (
            "index",
            f"{stats.chunks} chunks of {stats.files} files, {stats.embedded} embedded, {stats.seconds:.0f} s",
        )
    )
    print(rows[-1], flush=True)

    # 2. mine, behind the firewall
    search = candidate_search(index, embedder)
    started = time.perf_counter()
    bootstrap, bootstrap_stats = mine_bootstrap(chunk_records(index, name), search)
    golden, golden_stats = mine_golden(train_side, search)
    triplets, dropped = firewall(bootstrap + golden, held_out)
    by_source = Counter(t.source for t in triplets)
    rows += [
        ("golden questions (train / eval side)", f"{len(train_side)} / {len(held_out)}"),
        (
            "triplets mined (bootstrap, golden train side)",
            f"{by_source['bootstrap']} + {by_source['golden']}; {len(dropped)} dropped by the firewall; "
            f"{time.perf_counter() - started:.0f} s",
        ),
        ("golden questions without a positive in the top 30", str(golden_stats.skipped["no_positive"])),
        ("bootstrap pairs skipped", ", ".join(f"{k} {v}" for k, v in bootstrap_stats.skipped.most_common(4))),
    ]
    print(rows[-3:], flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-learning-") as tmp:
        work = Path(tmp)
        # 3. train and export
        run = train_cross_encoder(triplets, work / "run", TrainParams(time_budget_s=args.time_budget))
        models = work / "models"
        staging = staging_dir(models)
        exported = export_onnx(run.hf_dir, staging, run.parity_pairs)
        version = new_version()
        write_manifest(staging, version=version, training=run, export=exported)
        model_dir = publish(staging, models, version)
        before, after = run.validation[0], run.validation[-1]
        rows += [
            (
                "training (BCE, batch 16, 4 negatives)",
                f"{run.train_seconds:.0f} s: {run.steps}/{run.planned_steps} steps, "
                f"{run.epochs_completed:.2f} epochs, max length {run.params.max_length}, "
                f"{run.pairs_per_s:.1f} pairs/s, {run.stop_reason}",
            ),
            (
                f"validation MRR ({run.validation_triplets} held-out triplets)",
                f"{before.mrr:.3f} untrained -> {after.mrr:.3f}",
            ),
            (
                "export fp32 / int8; int8 parity (Spearman)",
                f"{exported.export_seconds:.1f} s / {exported.quantize_seconds:.1f} s; "
                f"{exported.int8.spearman:.4f}",
            ),
        ]
        print(rows[-3:], flush=True)

        # 4. evaluate on the eval side
        scorer = MemoScorer(CrossEncoderScorer(model_dir, quantized=True))
        lists = [search(question.q, question.repo, CANDIDATES) for question in held_out]
        rankers = {
            "none": fusion_order,
            "cross-encoder": cross_encoder_alone(scorer, args.top_n),
            "blend": served(scorer, args.top_n),
        }
        comparison = compare(held_out, lists, rankers)
        rows.append(
            (f"scoring {len(scorer.known)} pairs (int8, top {args.top_n})", f"{scorer.seconds:.1f} s")
        )

    rows.append(("bench wall time", f"{time.perf_counter() - began:.0f} s"))
    print(
        f"\n{name}: {len(held_out)} eval questions, {CANDIDATES} candidates each, top {args.top_n} reranked\n"
    )
    print("| ranker | MRR@10 | Hit@1 | Hit@5 | MRR@10 vs fusion [95% CI] |\n| --- | --- | --- | --- | --- |")
    for key, label in RANKERS.items():
        m = comparison.evaluations[key].metrics
        if key == "none":
            versus = "—"
        else:
            ci = comparison.interval(key, "none")
            versus = f"{ci.mean:+.3f} [{ci.low:+.3f}, {ci.high:+.3f}]"
        print(f"| {label} | {m['mrr']:.3f} | {m['hit_at_1']:.3f} | {m['hit_at_5']:.3f} | {versus} |")
    print("\n| measure | value |\n| --- | --- |")
    for measure, value in rows:
        print(f"| {measure} | {value} |")


if __name__ == "__main__":
    main()
