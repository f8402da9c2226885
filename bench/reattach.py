"""Labels surviving code edits: click every chunk, edit 20% of the files, re-index, re-attach.

    python -m bench.reattach [REPO] [--seed N] [--share 0.2] [--runs 1] [--show-wrong 10]

REPO (default: this checkout) is copied, as the indexer reads it, into a temporary directory and
indexed with the search service's own indexer. Every chunk gets one click, logged as telemetry
logs it (the impression stamped as a replica stamps it). The seeded edit script of bench/edits.py
then edits a share of the files (lines inserted above definitions, comments that join them,
renames, a last line edited, lines in prose; one chosen file in five moved unchanged), the copy
is re-indexed, and the feedback log is mined with re-attachment (mine_logs + mining/reattach.py).
Prints, per rule, the labels it placed and how many landed on the chunk the edit script's line
tracking says they should, the labels lost, and the accuracy over the labels that needed
re-attaching; with --runs N, seeds N, N+1, ... each on a fresh copy.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from pathlib import Path

from bench.edits import label_scenario
from services.search.files import walk_repository
from services.trainer.mining.reattach import RULES

HERE = Path(__file__).resolve().parent.parent


def copy_repository(source: Path, target: Path) -> int:
    """The files the indexer reads under `source`, copied to `target`; how many."""
    count = 0
    for file in walk_repository(source):
        if file.path == ".git":  # a worktree's pointer to its repository, not code
            continue
        destination = target / file.path
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / file.path, destination)
        count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("repo", nargs="?", type=Path, default=HERE)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--share", type=float, default=0.2, help="share of the files edited")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--show-wrong", type=int, default=10, help="misplaced labels to list")
    args = parser.parse_args()

    totals = {rule: [0, 0] for rule in RULES}  # rule -> [placed, right]
    labels = moved = moved_right = mined_right = 0
    edits: dict[str, int] = {}
    wrong = []
    began = time.perf_counter()
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="bench-reattach-") as tmp:
            root = Path(tmp) / "repo"
            files = copy_repository(args.repo.resolve(), root)
            outcome, report = label_scenario(root, "bench", random.Random(args.seed + run), args.share)
        for rule in RULES:
            totals[rule][0] += outcome.by_rule.get(rule, 0)
            totals[rule][1] += outcome.right_by_rule.get(rule, 0)
        assert outcome.mined == {r: n for r, n in outcome.by_rule.items() if n}, "mining counted otherwise"
        labels += outcome.labels
        moved += outcome.moved
        moved_right += outcome.moved_right
        mined_right += outcome.triplets_right
        for kind, n in report.counts.items():
            edits[kind] = edits.get(kind, 0) + n
        wrong += outcome.wrong
        print(
            f"run {run + 1}: seed {args.seed + run}, {files} files, {len(report.edited)} edited, "
            f"{outcome.labels} labels"
        )

    print(f"\nrepository: {args.repo} ({args.runs} run(s), seeds {args.seed}..{args.seed + args.runs - 1})")
    print("edits: " + ", ".join(f"{kind} {n}" for kind, n in sorted(edits.items())))
    print("\n| rule | labels | on the right chunk |\n|---|---:|---:|")
    for rule in RULES:
        placed, right = totals[rule]
        print(f"| {rule} | {placed} | {right if rule != 'lost' else '-'} |")
    accuracy = moved_right / moved if moved else 1.0
    print(
        f"\nlabels: {labels}; needing re-attachment: {moved}; re-attached to the right chunk: "
        f"{moved_right} ({accuracy:.1%}); lost: {totals['lost'][0]}"
    )
    print(f"all labels on the right chunk after mining (triplet positives): {mined_right}/{labels}")
    print(f"seconds: {time.perf_counter() - began:.1f}")
    for rule, old, placed, expected in wrong[: args.show_wrong]:
        print(f"  wrong ({rule}): {old} -> {placed}, expected {expected}")


if __name__ == "__main__":
    main()
