"""`codesift eval`: run golden questions through the running stack and score the rankings.

Questions go to the search replicas over NATS (as a user's would); metrics are computed by
shared.metrics and written to DATA_DIR/evals/latest.json in the format of DESIGN.md.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from pathlib import Path

import msgspec

from codesift.client import RequestProblem, Stack
from codesift.commands import cli_settings, fail
from shared.bus import StackNotRunning
from shared.metrics import evaluate
from shared.schemas import EvalMetrics, EvalResult, GoldenQuestion, QuestionResult

DEPTH = 10
CONCURRENCY = 4


def load_golden(path: Path) -> list[GoldenQuestion]:
    """Read golden questions; a bad file fails with the question's index and the field."""
    try:
        raw = msgspec.json.decode(path.read_bytes())
    except OSError as exc:
        raise ValueError(f"--golden {path}: {exc.strerror}") from None
    except msgspec.DecodeError as exc:
        raise ValueError(f"--golden {path}: not valid JSON ({exc})") from None
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"--golden {path}: expected a non-empty JSON list of questions")
    try:
        return msgspec.convert(raw, list[GoldenQuestion])
    except msgspec.ValidationError as exc:
        raise ValueError(f"--golden {path}: {str(exc).replace('$[', 'question [')}") from None


async def run_questions(stack: Stack, questions: list[GoldenQuestion]) -> list[list[str]]:
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(q: GoldenQuestion) -> list[str]:
        async with limit:
            response = await stack.search(q.q, k=DEPTH, repo=q.repo)
        return [hit.path for hit in response.results]

    return list(await asyncio.gather(*(one(q) for q in questions)))


async def evaluate_golden(golden: Path, as_json: bool, data_dir: Path | None = None) -> int:
    try:
        questions = load_golden(golden)
    except ValueError as exc:
        return fail(str(exc))
    settings = cli_settings(data_dir)
    try:
        async with Stack(settings) as stack:
            rankings = await run_questions(stack, questions)
    except StackNotRunning as exc:
        return fail(str(exc))
    except RequestProblem as exc:
        return fail(f"golden question refused: {exc}")
    scored = evaluate([(paths, q.expect_paths) for paths, q in zip(rankings, questions, strict=True)])
    result = EvalResult(
        timestamp=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        model_path=None,
        metrics=EvalMetrics(**scored.metrics),
        total_questions=len(questions),
        per_question=[
            QuestionResult(q=q.q, repo=q.repo, first_correct_rank=rank)
            for q, rank in zip(questions, scored.first_relevant_ranks, strict=True)
        ],
    )
    out = settings.data_dir / "evals" / "latest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_bytes(msgspec.json.format(msgspec.json.encode(result)))
    tmp.replace(out)
    if as_json:
        sys.stdout.write(msgspec.json.encode(result).decode() + "\n")
    else:
        print_eval(result, out)
    return 0


def print_eval(result: EvalResult, out: Path) -> None:
    m = result.metrics
    print(f"{result.total_questions} questions   (written to {out})")
    print(f"MRR@10 {m.mrr:.3f}   Hit@1 {m.hit_at_1:.3f}   Hit@3 {m.hit_at_3:.3f}   "
          f"Hit@5 {m.hit_at_5:.3f}   Hit@10 {m.hit_at_10:.3f}   nDCG@10 {m.ndcg_at_10:.3f}")  # fmt: skip
    print("\nfirst correct rank per question:")
    for q in result.per_question:
        rank = str(q.first_correct_rank) if q.first_correct_rank else "-"
        print(f"  {rank:>2}  {q.q}")
