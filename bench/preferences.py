"""Two populations of users on the same repository: does one train run serve each the kind of file it clicks?

    python -m bench.preferences [--seeds 0 1 2] [--functions 32] [--top-n 20]

For each seed, a package is generated from a template (`tests/preference_world.py`: per function
its source, a test, an example and a docs page), indexed with the search service's own modules
(int8 MiniLM vectors + BM25, fused by RRF), and clicks are simulated on half of its functions by
each population: "tests" users click the test or the example when they ask how to use a function
and the source when they ask where it is; "source" users click the source for both. The
combiner is then fitted as a train job fits it (`prepare` + `fit_combiner`, no cross-encoder) and
judged on the other half's questions (functions, files and question wordings' pairings never
trained on), relevant = the population's wanted files: MRR@10 fusion vs the combiner as served
(`shared.ranking.served_order` over the ONNX combiner), with the paired bootstrap 95% interval
of the difference (`services.evaluator.comparison`), per seed and pooled over seeds.

"without query columns" is the same choice and fit with the query columns and their crosses
zeroed in training and serving (native scores): what the query features add.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np

from services.evaluator.comparison import compare
from services.search.embedding import Embedder
from services.search.export_embedder import ensure_embedder
from services.search.indexer import index_repository
from services.trainer.combiner import fit_combiner, prepare
from services.trainer.combiner.models import fit
from services.trainer.combiner.select import choose, final_scores
from shared.combiner import Combiner
from shared.features import CROSSES, INDEX, QUERY, feature_matrix
from shared.metrics import paired_bootstrap_ci
from shared.ranking import served_order
from shared.settings import settings
from tests.preference_world import (
    POPULATIONS,
    STYLES,
    clicks,
    halves,
    index_search,
    judged_questions,
    write_repository,
)

QUERY_COLUMNS = [INDEX[name] for name in (*QUERY, *CROSSES)]


def without_query(rows: np.ndarray) -> np.ndarray:
    rows = rows.copy()
    rows[:, QUERY_COLUMNS] = 0.0
    return rows


def blind_ranker(prepared, top_n: int):
    """The combiner chosen and fitted with the query columns zeroed; ranks by its native scores."""
    groups = [dataclasses.replace(g, rows=without_query(g.rows)) for g in prepared.groups]
    choice = choose(groups, prepared.held, None)
    ranker = fit(choice.kind, groups, 0, choice.source_weights)

    def rank(query, candidates):
        head = len(candidates[:top_n])
        scores = final_scores(ranker, choice, without_query(feature_matrix(query, candidates[:head])))
        return sorted(range(head), key=lambda i: (-scores[i], i)) + list(range(head, len(candidates)))

    return rank


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="generated packages")
    parser.add_argument("--functions", type=int, default=32, help="functions per package (half trained on)")
    parser.add_argument("--top-n", type=int, default=20, help="candidates shown and reranked")
    args = parser.parse_args(argv)
    embedder = Embedder(ensure_embedder(settings().cache_dir), quantized=True)
    pooled: dict[tuple[str, str], dict[str, list[float]]] = {}  # (population, style) -> ranker -> MRRs
    print(
        "| seed | population | questions | fusion | combiner | without query columns "
        "| combiner vs fusion [95% CI] | chosen |"
    )
    print("| ---: | --- | --- | ---: | ---: | ---: | --- | --- |")
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            functions = write_repository(root / "repo", seed, args.functions)
            began = time.perf_counter()
            index, _ = index_repository(root / "repo", "toolkit", None, embedder)
            search = index_search(index, embedder)
            indexed = time.perf_counter() - began
            train, judged = halves(functions)
            for population in POPULATIONS:
                out = root / population
                out.mkdir()
                began = time.perf_counter()
                prepared = prepare(clicks(train, population, search, args.top_n), search, args.top_n)
                section = fit_combiner(prepared, out, ce_dir=None)
                fitted = time.perf_counter() - began
                combiner = Combiner(out)
                rankers = {
                    "fusion": lambda q, c: list(range(len(c))),
                    "combiner": lambda q, c, m=combiner: [
                        i for i, _ in served_order(q, c, args.top_n, combiner=m)
                    ],
                    "blind": blind_ranker(prepared, args.top_n),
                }
                for style in STYLES:
                    questions = judged_questions(judged, population, style)
                    found = [search(q.q, q.repo, args.top_n) for q in questions]
                    result = compare(questions, found, rankers)
                    mrr = {name: e.metrics["mrr"] for name, e in result.evaluations.items()}
                    gain = result.interval("combiner", "fusion")
                    kept = pooled.setdefault((population, style), {name: [] for name in rankers})
                    for name, evaluation in result.evaluations.items():
                        kept[name].extend(evaluation.scores("mrr"))
                    print(
                        f"| {seed} | {population} | {style} ({len(questions)}) | {mrr['fusion']:.3f} | "
                        f"{mrr['combiner']:.3f} | {mrr['blind']:.3f} | {gain.mean:+.3f} [{gain.low:+.3f}, "
                        f"{gain.high:+.3f}] | {section['kind']}, prior {section['prior']:g}, "
                        f"{len(prepared.groups)} groups, fit {fitted:.0f} s (index {indexed:.0f} s) |",
                        flush=True,
                    )
    print("\nPooled over seeds (paired bootstrap over every held-out question):\n")
    print(
        "| population | questions | fusion | combiner | without query columns | combiner vs fusion [95% CI] |"
    )
    print("| --- | --- | ---: | ---: | ---: | --- |")
    for (population, style), scores in pooled.items():
        mean, low, high = paired_bootstrap_ci(scores["combiner"], scores["fusion"])
        print(
            f"| {population} | {style} ({len(scores['fusion'])}) | {np.mean(scores['fusion']):.3f} | "
            f"{np.mean(scores['combiner']):.3f} | {np.mean(scores['blind']):.3f} | "
            f"{mean:+.3f} [{low:+.3f}, {high:+.3f}] |"
        )


if __name__ == "__main__":
    main()
