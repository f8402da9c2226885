"""Which feature columns the combiner gains from: the same groups and eval questions, fitted with all
columns and with some zeroed, in one run.

    python -m bench.ablation REPO GOLDEN [--library] [--users source,tests,mixed] [--zero same_,query_]

What `bench.learning` does up to the train job (index, simulated feedback, bootstrap and golden
mining behind the firewall, `prepare`), then per variant the train job's own choice and fit
(`select.choose`, `models.fit`) without the cross-encoder, scored on the eval side as served (top
20 reordered, the rest in fusion order). A variant zeroes every column whose name starts with one
of its comma-separated prefixes, in training and in scoring alike; `--zero` takes several variants,
separated by spaces. Prints MRR@10 against fusion with the paired bootstrap 95% interval.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench import learning
from services.evaluator.comparison import compare
from services.evaluator.rankers import Ranker, fusion_order
from services.trainer.combiner import prepare
from services.trainer.combiner.models import fit
from services.trainer.combiner.select import choose, final_scores
from services.trainer.mining import mine_bootstrap
from shared.features import FEATURES, feature_matrix
from shared.golden import split_golden
from shared.schemas import Candidate

TOP_N = 20
CANDIDATES = learning.CANDIDATES


def zeroed(prefixes: tuple[str, ...]) -> list[int]:
    columns = [i for i, name in enumerate(FEATURES) if name.startswith(prefixes)]
    if prefixes and not columns:
        raise SystemExit(f"--zero: no feature column starts with {', '.join(prefixes)}")
    return columns


def rows_of(query, candidates, columns: list[int]) -> np.ndarray:
    rows = feature_matrix(query, candidates)
    rows[:, columns] = 0.0
    return rows


def combiner_ranker(prepared, columns: list[int]) -> tuple[Ranker, str]:
    """The train job's choice and fit on `prepared`'s groups with `columns` zeroed, as a ranker that
    reorders the top 20 (the rest in fusion order), and what was chosen."""
    groups = [dataclasses.replace(g, rows=rows_of(g.query, g.candidates, columns)) for g in prepared.groups]
    choice = choose(groups, prepared.held, None)
    fitted = fit(choice.kind, groups, 0, choice.source_weights)

    def rank(query: str, candidates: Sequence[Candidate]) -> list[int]:
        head = min(TOP_N, len(candidates))
        scores = final_scores(fitted, choice, rows_of(query, candidates[:head], columns))
        return sorted(range(head), key=lambda i: (-scores[i], i)) + list(range(head, len(candidates)))

    return rank, f"{choice.kind}, prior {choice.prior:g}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", help="the repository to index (with --library: a package name)")
    parser.add_argument("golden", type=Path)
    parser.add_argument("--name", help="the repository's name in the golden file")
    parser.add_argument("--library", action="store_true", help="REPO names an installed package")
    parser.add_argument("--users", default="source", help="populations, comma-separated")
    parser.add_argument("--zero", nargs="+", default=["same_"], help="variants: column name prefixes")
    args = parser.parse_args(argv)
    populations = [u.strip() for u in args.users.split(",") if u.strip()]
    if not populations or any(u not in learning.USERS for u in populations):
        known = ", ".join(learning.USERS)
        parser.error(f"--users: {args.users!r}: give one or more of {known}, comma-separated")
    variants = {"all columns": [], **{f"zero {v}": zeroed(tuple(v.split(","))) for v in args.zero}}
    name, questions, index, _, embedder = learning.indexed(args)
    search = learning.candidate_search(index, embedder)
    bootstrap, _ = mine_bootstrap(learning.chunk_records(index, name), search)
    indexed = sorted({c.path for c in index.chunks if c.repo == name})
    print(f"\n{name}: held-out MRR@10, combiner without the cross-encoder\n")
    print("| users | eval questions | variant | fusion | combiner | vs fusion [95% CI] | chosen |")
    print("| --- | ---: | --- | ---: | ---: | --- | --- |")
    for users in populations:
        asked, _ = learning.population(questions, users, indexed)
        train_side, held_out = split_golden(asked)
        if not held_out:
            continue
        prepared = prepare(learning.mined(train_side, held_out, search, index, bootstrap)[0], search, TOP_N)
        lists = [search(q.q, q.repo, CANDIDATES) for q in held_out]
        for variant, columns in variants.items():
            ranker, chosen = combiner_ranker(prepared, columns)
            comparison = compare(held_out, lists, {"none": fusion_order, "combiner": ranker})
            fusion, combiner = (comparison.evaluations[k].metrics["mrr"] for k in ("none", "combiner"))
            ci = comparison.interval("combiner", "none")
            print(
                f"| {users} | {len(held_out)} | {variant} | {fusion:.3f} | {combiner:.3f} | "
                f"{ci.mean:+.3f} [{ci.low:+.3f}, {ci.high:+.3f}] | {chosen} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
