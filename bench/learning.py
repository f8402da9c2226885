"""The whole learning loop on a repository and its golden questions, in process, without the stack.

    python -m bench.learning REPO GOLDEN [--name NAME] [--time-budget SECONDS] [--top-n N]
                                         [--combiner auto|lambdamart|logistic|ensemble|none]
                                         [--users source,tests,mixed] [--library]

REPO is a directory, or with --library the name of an installed package whose source is copied
(transformers: its core and 26 model families; sklearn: the subpackages in LIBRARY_SUBSETS) and
indexed under a folder named after it (bench/golden_sklearn.json's paths start with `sklearn/`).

Simulated user populations (--users, several comma-separated; each is trained and scored on its
own, sharing the index and the bootstrap triplets):
- source: the user wants the implementation: clicks the first shown chunk of an `expect_paths`
  path; held-out relevance is `expect_paths`.
- tests: the user wants a test or example that shows it: clicks the first shown chunk of an
  `expect_tests` path (tests and examples/docs that use the implementation); held-out relevance
  is `expect_tests` + `expect_examples`. A question without any is left out of this population.
  When the golden file gives neither for a question (golden.json), they are the indexed tests of
  an expected file `<dir>/<stem>.py`: `test_<stem>.py` or `test_<stem>_*.py` in a folder named
  `<dir>` (tests/unit/shared/test_bus.py for shared/bus.py).
- mixed: half of the questions (stable: sha1 of the normalised question with the salt "users")
  are asked by users who want tests, the others by users who want source; a question without
  tests is always a source question.

1. Index REPO with the search service's own modules (int8 MiniLM vectors + BM25, fused by RRF).
   Vectors are kept under CACHE_DIR/bench-learning between runs: a second run embeds only what
   changed.
2. Split the golden questions with the shared rule (`shared.golden`): the train side is mined,
   the eval side is only ever scored. Feedback is simulated on the train side: each question's
   fusion top 10 is shown, the user clicks the first relevant result and skips those above it;
   the events (with their impression) go through the feedback-log miner (`mine_logs`). Bootstrap
   triplets (documentation -> code, source files) and golden triplets are mined as the trainer
   does, with hard negatives from the fusion candidates; any triplet near an eval question is
   dropped (the trainer's firewall).
3. What a train job does (`services.trainer.combiner` and `train_cross_encoder`, the same
   functions, with candidates from the in-process index instead of NATS): the combiner's query
   groups and held-out queries, the MiniLM cross-encoder fine-tuned within the time budget on
   the other queries, exported to ONNX + int8 (parity check), the combiner chosen on the held-out
   queries and written into the artifact.
4. On the eval side (the same questions for every population: the split is on the question
   text), the same 50 fusion candidates per question ranked four ways: fusion order,
   the int8 cross-encoder alone over the top N, the fused-rank blend (served without a combiner)
   and the combiner as served (`shared.ranking.served_order`). MRR@10, Hit@1, Hit@5, and the
   paired bootstrap 95% interval of the MRR@10 difference against fusion.
5. The combiner's added latency for 50 candidates: feature rows + ONNX scores, p50 over many
   runs, with the chunk feature cache cold (cleared before each run) and warm.
Prints markdown tables. About 5 minutes on 2 cores for this repository with a 120 s budget.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from bench.search import copy_sources, library_filter
from services.evaluator.comparison import compare
from services.evaluator.rankers import cross_encoder_alone, fusion_order, served
from services.search.embedding import Embedder
from services.search.export_embedder import ensure_embedder
from services.search.index import IndexFormatError, SearchIndex
from services.search.indexer import IndexStats, index_repository
from services.trainer.combiner import Skipped, fit_combiner, prepare
from services.trainer.export import export_onnx
from services.trainer.manifest import new_version, publish, staging_dir, write_manifest
from services.trainer.mining import firewall, mine_bootstrap, mine_golden, mine_logs
from services.trainer.mining.golden import CandidateSearch
from services.trainer.params import TrainParams
from services.trainer.training import train_cross_encoder
from shared import features
from shared.combiner import Combiner, has_combiner
from shared.golden import split_golden, stable_hash
from shared.metrics import is_relevant
from shared.schemas import Candidate, ChunkRecord, GoldenQuestion, Triplet
from shared.scoring import CrossEncoderScorer
from shared.settings import settings

CANDIDATES = 50  # per eval question, as the evaluator asks
RETRIEVAL_DEPTH = 100  # per retriever before fusion, the replicas' default
SHOWN = 10  # results a simulated user sees
LATENCY_RUNS = 300
USERS = ("source", "tests", "mixed")
LIBRARY_SUBSETS = {
    # ~2.5 MB of sklearn: the preprocessing-to-model-selection path with its tests
    "sklearn": (
        "preprocessing/", "impute/", "compose/", "feature_extraction/", "model_selection/",
        "pipeline.py", "base.py", "dummy.py", "naive_bayes.py", "calibration.py", "multiclass.py",
        "tests/test_pipeline.py", "tests/test_base.py", "tests/test_dummy.py", "tests/test_naive_bayes.py",
        "tests/test_calibration.py", "tests/test_multiclass.py",
    ),
}  # fmt: skip
_TEST_FILE = re.compile(r"(^|/)(tests?|testing)/|(^|/)test_[^/]*$|_test\.py$")
RANKERS = {
    "none": "fusion (no reranker)",
    "cross-encoder": "cross-encoder alone",
    "blend": "fused-rank blend (no combiner)",
    "combiner": "combiner as served",
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
                content_hash=c.content_hash, text=c.text, symbol=c.symbol, fusion_rank=h.fusion_rank,
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


def simulated_feedback(questions: Sequence[GoldenQuestion], search: CandidateSearch) -> list[dict[str, Any]]:
    """Feedback log lines: per question, its fusion top 10 shown and the first relevant one clicked.

    A question with nothing relevant in the top 10 gets no click (users leave such searches).
    """
    lines: list[dict[str, Any]] = []
    now = time.time()
    for question in questions:
        shown = search(question.q, question.repo, SHOWN)
        clicked = next((i for i, c in enumerate(shown) if is_relevant(c.path, question.expect_paths)), None)
        if clicked is None:
            continue
        query_id = uuid.uuid4().hex
        results = [{"position": i + 1, "doc_id": c.doc_id} for i, c in enumerate(shown)]
        lines.append(
            {
                "event_id": uuid.uuid4().hex,
                "query": question.q,
                "doc_id": shown[clicked].doc_id,
                "rating": 5,
                "source": "click",
                "timestamp": now,
                "query_id": query_id,
                "position": clicked + 1,
                "repo": question.repo,
                "impression": {"results": results},
            }
        )
    return lines


def mined(
    train_side: Sequence[GoldenQuestion],
    held_out: Sequence[GoldenQuestion],
    search: CandidateSearch,
    index: SearchIndex,
    bootstrap: list[Triplet],
) -> tuple[list[Triplet], list[Triplet], int, Any]:
    """Step 2: the train side's simulated clicks mined by the logs miner, its golden triplets and the
    bootstrap ones, behind the firewall. Returns (triplets, dropped, clicks, golden stats)."""
    feedback = simulated_feedback(train_side, search)
    logs, _ = mine_logs(feedback, texts_lookup(index))
    golden, golden_stats = mine_golden(train_side, search)
    triplets, dropped = firewall(logs + bootstrap + golden, held_out)
    return triplets, dropped, len(feedback), golden_stats


def texts_lookup(index: SearchIndex):
    texts = {(c.repo, c.doc_id): c.text for c in index.chunks}

    def lookup(keys):
        return {key: texts[key] for key in keys if key in texts}

    return lookup


def combiner_latency(combiner: Combiner, lists: Sequence[Sequence[Candidate]]) -> dict[str, float]:
    """p50 ms of feature rows + ONNX scores for 50 candidates, chunk cache cold and warm.

    With a cross-encoder in the combiner, its logits (computed once here) are part of the rows;
    scoring them is the cross-encoder's latency, measured by bench/rerank.py.
    """
    full = [c[:CANDIDATES] for c in lists if len(c) >= CANDIDATES] or [c[:CANDIDATES] for c in lists]
    logits = [np.linspace(1.0, -1.0, len(c)) if combiner.uses_cross_encoder else None for c in full]
    timings: dict[str, list[float]] = {"cold": [], "warm": []}
    for run in range(LATENCY_RUNS):
        i = run % len(full)
        query = f"latency probe {run}"  # query-dependent parts are never cached
        for state in ("cold", "warm"):
            if state == "cold":
                features.chunk_profile.cache_clear()
            began = time.perf_counter()
            combiner.score(features.feature_matrix(query, full[i], logits[i]))
            timings[state].append((time.perf_counter() - began) * 1000)
    return {state: statistics.median(values) for state, values in timings.items()}


class UserQuestion(msgspec.Struct, forbid_unknown_fields=False):
    """A golden question with what shows its answer in use (the optional fields of the bench's files).

    expect_tests: paths (substrings, as expect_paths) of tests that exercise the implementation;
    expect_examples: examples or documentation pages that show it in use. Either is what a user
    who wants tests or examples clicks.
    """

    q: str
    repo: str
    expect_paths: list[str]
    expect_tests: list[str] | None = None
    expect_examples: list[str] | None = None


def read_questions(path: Path, repo: str | None) -> tuple[str, list[UserQuestion]]:
    questions = msgspec.json.decode(Path(path).read_bytes(), type=list[UserQuestion])
    repo = repo or Counter(q.repo for q in questions).most_common(1)[0][0]
    return repo, [q for q in questions if q.repo == repo]


def derived_tests(question: UserQuestion, indexed_paths: Sequence[str]) -> list[str]:
    """The indexed tests of an expected file <dir>/<stem>.py: test_<stem>.py or test_<stem>_*.py in
    a folder named <dir> (tests/unit/shared/test_bus.py for shared/bus.py)."""
    wanted = [
        (Path(p).parent.name, Path(p).stem.lstrip("_"))
        for p in question.expect_paths
        if p.endswith(".py") and Path(p).stem != "__init__"
    ]
    return sorted(
        path
        for path in indexed_paths
        if _TEST_FILE.search(path)
        and any(
            folder in Path(path).parent.parts
            and (Path(path).name == f"test_{stem}.py" or Path(path).name.startswith(f"test_{stem}_"))
            for folder, stem in wanted
        )
    )


def wants_tests(question: UserQuestion, users: str) -> bool:
    if users == "mixed":
        return int(stable_hash(question.q, "users")[:8], 16) % 2 == 1
    return users == "tests"


def population(
    questions: Sequence[UserQuestion], users: str, indexed_paths: Sequence[str]
) -> tuple[list[GoldenQuestion], int]:
    """The questions as this population asks them (expect_paths = what it clicks), and how many
    were left out (a question without tests, for users who all want tests)."""
    asked: list[GoldenQuestion] = []
    left_out = 0
    for question in questions:
        tests = (
            [*(question.expect_tests or []), *(question.expect_examples or [])]
            if question.expect_tests is not None or question.expect_examples is not None
            else derived_tests(question, indexed_paths)
        )
        if wants_tests(question, users) and tests:
            asked.append(GoldenQuestion(question.q, question.repo, tests))
        elif users == "tests":
            left_out += 1
        else:
            asked.append(GoldenQuestion(question.q, question.repo, list(question.expect_paths)))
    return asked, left_out


def library_source(name: str, dest: Path) -> Path:
    """Copy the installed package `name`'s source (its bench subset) to dest/name; return dest."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"--library: no installed package named {name!r}")
    source = Path(next(iter(spec.submodule_search_locations)))
    subset = LIBRARY_SUBSETS.get(name)
    keep = (lambda path: path.startswith(subset)) if subset else library_filter(name)
    prefix = dest / name if subset else dest
    if prefix.exists():
        shutil.rmtree(prefix)
    copy_sources(source, prefix, keep, max_chunks=10**9)
    return dest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", help="the repository to index and mine (with --library: a package name)")
    parser.add_argument("golden", type=Path, help="golden questions ([{q, repo, expect_paths}])")
    parser.add_argument("--name", help="the repository's name in the golden file (default: its most common)")
    parser.add_argument("--library", action="store_true", help="REPO names an installed package")
    parser.add_argument("--time-budget", type=float, default=300.0, help="seconds of training (default 300)")
    parser.add_argument("--top-n", type=int, default=20, help="candidates the reranker reorders")
    parser.add_argument(
        "--combiner",
        default="auto",
        choices=("auto", "lambdamart", "logistic", "ensemble", "none"),
        help="(auto)",
    )
    parser.add_argument(
        "--users", default="source", help="populations, comma-separated: source, tests, mixed"
    )
    parser.add_argument(
        "--per-question",
        type=Path,
        help="write each eval question's first-relevant rank per ranker and both top 3s (JSON lines)",
    )
    args = parser.parse_args(argv)
    users = [u.strip() for u in args.users.split(",") if u.strip()]
    if not users or any(u not in USERS for u in users):
        parser.error(f"--users: {args.users!r}: give one or more of {', '.join(USERS)}, comma-separated")
    began, commit = time.perf_counter(), git_head()

    # 1. index
    name, questions, index, stats, embedder = indexed(args)
    shared_rows = [
        (
            "index",
            f"{stats.chunks} chunks of {stats.files} files, {stats.embedded} embedded, {stats.seconds:.0f} s",
        )
    ]
    print(shared_rows[-1], flush=True)
    search = candidate_search(index, embedder)
    started = time.perf_counter()
    bootstrap, bootstrap_stats = mine_bootstrap(chunk_records(index, name), search)
    shared_rows += [
        ("bootstrap triplets (every population)", f"{len(bootstrap)}; {time.perf_counter() - started:.0f} s"),
        ("bootstrap pairs skipped", ", ".join(f"{k} {v}" for k, v in bootstrap_stats.skipped.most_common(4))),
    ]
    print(shared_rows[-2:], flush=True)
    indexed_paths = sorted({c.path for c in index.chunks if c.repo == name})
    summary: list[str] = []
    for population_name in users:
        summary.append(
            run_population(population_name, name, questions, indexed_paths, search, bootstrap, index, args)
        )
    print(f"\n{name}: held-out MRR@10 by population (commit {commit}, {args.time_budget:g} s budget)\n")
    print(
        "| users | eval questions | fusion | combiner as served | vs fusion [95% CI] | kind |\n"
        "| --- | ---: | ---: | ---: | --- | --- |"
    )
    print("\n".join(summary))
    print("\n| measure | value |\n| --- | --- |")
    for measure, value in [*shared_rows, ("bench wall time", f"{time.perf_counter() - began:.0f} s")]:
        print(f"| {measure} | {value} |")


def indexed(args: argparse.Namespace) -> tuple[str, list[UserQuestion], SearchIndex, IndexStats, Embedder]:
    """Step 1: the golden file's questions for the repository (args.golden, args.name) and the
    repository indexed (args.repo; with args.library the installed package's copied source)."""
    name, questions = read_questions(args.golden, args.name)
    embedder = Embedder(ensure_embedder(settings().cache_dir), quantized=True)
    with tempfile.TemporaryDirectory(prefix="bench-learning-src-") as src:
        root = library_source(args.repo, Path(src)) if args.library else Path(args.repo)
        index, stats = build_index(root, name, embedder, settings().cache_dir / "bench-learning")
    return name, questions, index, stats, embedder


def git_head() -> str:
    import subprocess

    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def run_population(
    users: str,
    name: str,
    questions: Sequence[UserQuestion],
    indexed_paths: Sequence[str],
    search: CandidateSearch,
    bootstrap: list[Triplet],
    index: SearchIndex,
    args: argparse.Namespace,
) -> str:
    """2-4 for one population; prints its tables and returns its summary row."""
    rows: list[tuple[str, str]] = []
    asked, left_out = population(questions, users, indexed_paths)
    train_side, held_out = split_golden(asked)
    if not held_out:
        print(f"\n{name}, users {users}: the eval side is empty ({left_out} questions without tests)")
        return f"| {users} | 0 | — | — | no questions with tests | — |"

    # 2. simulated feedback and mining, behind the firewall
    started = time.perf_counter()
    triplets, dropped, clicks, golden_stats = mined(train_side, held_out, search, index, bootstrap)
    by_source = Counter(t.source for t in triplets)
    rows += [
        (
            "golden questions (train / eval side; left out: no tests)",
            f"{len(train_side)} / {len(held_out)}; {left_out}",
        ),
        (
            f"simulated clicks (train side, users {users}, first wanted in the fusion top 10)",
            str(clicks),
        ),
        (
            "triplets mined (logs, bootstrap, golden train side)",
            f"{by_source['logs']} + {by_source['bootstrap']} + {by_source['golden']}; "
            f"{len(dropped)} dropped by the firewall; {time.perf_counter() - started:.0f} s",
        ),
        ("golden questions without a positive in the top 30", str(golden_stats.skipped["no_positive"])),
    ]
    print(users, rows[-4:], flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-learning-") as tmp:
        work = Path(tmp)
        model_dir, section = train_like_the_job(triplets, search, args, work, rows)

        # 4. evaluate on the eval side
        scorer = MemoScorer(CrossEncoderScorer(model_dir, quantized=True, batch_size=1))
        lists = [search(question.q, question.repo, CANDIDATES) for question in held_out]
        combiner = Combiner(model_dir) if has_combiner(model_dir) else None
        rankers = {
            "none": fusion_order,
            "cross-encoder": cross_encoder_alone(scorer, args.top_n),
            "blend": served(scorer, args.top_n),
            "combiner": served(scorer, args.top_n, combiner),
        }
        comparison = compare(held_out, lists, rankers)
        if args.per_question is not None:
            write_per_question(args.per_question, users, comparison, lists, rankers)
        rows.append(
            (f"scoring {len(scorer.known)} pairs (int8, top {args.top_n})", f"{scorer.seconds:.1f} s")
        )
        if combiner is not None:
            latency = combiner_latency(combiner, lists)
            rows.append(
                (
                    f"combiner latency, {CANDIDATES} candidates (features + ONNX, p50 of {LATENCY_RUNS})",
                    f"{latency['cold']:.2f} ms cold feature cache, {latency['warm']:.2f} ms warm",
                )
            )

    print(
        f"\n{name}, users {users}: {len(held_out)} eval questions, {CANDIDATES} candidates each, "
        f"top {args.top_n} reranked\n"
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
    if section is not None:
        top = sorted(section["importances"].items(), key=lambda item: -item[1])[:8]
        print("\n| feature | importance |\n| --- | --- |")
        for feature, share in top:
            print(f"| {feature} | {share:.3f} |")
    print(flush=True)
    ci = comparison.interval("combiner", "none")
    kind = (
        "none (blend)"
        if section is None
        else section["kind"] + (" + CE" if section["uses_cross_encoder"] else "")
    )
    return (
        f"| {users} | {len(held_out)} | {comparison.evaluations['none'].metrics['mrr']:.3f} | "
        f"{comparison.evaluations['combiner'].metrics['mrr']:.3f} | "
        f"{ci.mean:+.3f} [{ci.low:+.3f}, {ci.high:+.3f}] | {kind} |"
    )


def write_per_question(
    path: Path, users: str, comparison: Any, lists: Sequence[Sequence[Candidate]], rankers: dict[str, Any]
) -> None:
    """Append one JSON line per eval question: its ranks per ranker, fusion's and the combiner's top 3."""
    with path.open("ab") as out:
        rows = comparison.per_question("combiner")
        for row, found, question in zip(rows, lists, comparison.questions, strict=True):
            ordered = sorted(found, key=lambda c: c.fusion_rank)
            tops = {
                key: [f"{ordered[i].path}:{ordered[i].symbol or ordered[i].start_line}" for i in
                      rankers[key](row["q"], ordered)[:3]]
                for key in ("none", "combiner")
            }  # fmt: skip
            line = {"users": users, **row, "expect": question.expect_paths, "top3": tops}
            out.write(msgspec.json.encode(line) + b"\n")


def train_like_the_job(
    triplets: list[Triplet],
    search: CandidateSearch,
    args: argparse.Namespace,
    work: Path,
    rows: list[tuple[str, str]],
) -> tuple[Path, dict[str, Any] | None]:
    """3. The train job's stages (services/trainer/train_job.py), candidates from the index."""
    params = TrainParams(time_budget_s=args.time_budget, combiner=args.combiner, top_n=args.top_n)
    prepared, skipped = None, None
    if args.combiner != "none":
        try:
            prepared = prepare(triplets, search, args.top_n)
        except Skipped as exc:
            skipped = str(exc)
    ce_triplets = prepared.cross_encoder_triplets(triplets) if prepared else triplets
    run = train_cross_encoder(ce_triplets, work / "run", params)
    models = work / "models"
    staging = staging_dir(models)
    exported = export_onnx(run.hf_dir, staging, run.parity_pairs)
    section = None
    if prepared is not None:
        section = fit_combiner(prepared, staging, ce_dir=staging, setting=args.combiner, seed=params.seed)
    version = new_version()
    write_manifest(
        staging, version=version, training=run, export=exported, combiner=section, combiner_skipped=skipped
    )
    model_dir = publish(staging, models, version)
    before, after = run.validation[0], run.validation[-1]
    rows += [
        (
            "cross-encoder training (BCE, batch 16, 4 negatives)",
            f"{run.train_seconds:.0f} s on {len(ce_triplets)} triplets: {run.steps}/{run.planned_steps} "
            f"steps, {run.epochs_completed:.2f} epochs, max length {run.params.max_length}, "
            f"{run.pairs_per_s:.1f} pairs/s, {run.stop_reason}",
        ),
        (
            f"validation MRR ({run.validation_triplets} held-out triplets)",
            f"{before.mrr:.3f} untrained -> {after.mrr:.3f}",
        ),
        (
            "export fp32 / int8; int8 parity (relative error, Spearman)",
            f"{exported.export_seconds:.1f} s / {exported.quantize_seconds:.1f} s; "
            f"{exported.int8.rel_error:.3f}, {exported.int8.spearman:.4f}",
        ),
    ]
    if section is None:
        rows.append(("combiner", f"none: {skipped or 'not asked'}"))
    else:
        h, cv = section["holdout"], section["cv"]
        rows += [
            (
                "combiner training (groups, held-out CE logits, fit, export)",
                f"{section['train_seconds']:.1f} s; groups {section['groups']}",
            ),
            (
                "combiner chosen",
                f"{section['kind']}, fusion prior {section['prior']:g}, "
                f"cross-encoder weight {section['ce_weight']:.3g}"
                + ("" if section["uses_cross_encoder"] else " (the cross-encoder is not scored)"),
            ),
            (
                f"cross-validated MRR@10 ({cv['groups']} groups of train-side queries, {cv['folds']} folds)",
                ", ".join(f"{k[4:]} {v}" for k, v in cv.items() if k.startswith("mrr_")),
            ),
            (
                f"held-out MRR@10 ({h['groups']} {'people' if h.get('people') else 'held-out'} groups, "
                "queries the cross-encoder never saw)",
                ", ".join(f"{k[4:]} {v}" for k, v in h.items() if k.startswith("mrr_")),
            ),
        ]
    print(rows[-4:], flush=True)
    return model_dir, section


if __name__ == "__main__":
    main()
