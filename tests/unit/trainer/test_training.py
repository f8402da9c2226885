"""Training parameters, the data the losses get, and short real runs (time budget, cancel)."""

import math
from pathlib import Path

import pytest

from services.trainer.params import InvalidParams, TrainParams, parse_params, validated
from services.trainer.training import (
    LossPoint,
    NotEnoughTriplets,
    TrainingCancelled,
    build_dataset,
    choose_max_length,
    pair_length_percentile,
    split_by_query,
    train_cross_encoder,
)
from shared.schemas import Triplet
from tests.unit.trainer.tiny_corpus import tiny_triplets

TINY = {"max_length": 64, "batch_size": 8, "epochs": 1, "negatives_per_query": 1}


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"loss": "hinge"}, "loss"),
        ({"epochs": -1}, "epochs"),
        ({"epochs": 0}, "epochs"),
        ({"lr": 0}, "lr"),
        ({"lr": -0.1}, "lr"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_length": 8}, "max_length"),
        ({"validation_fraction": 0.9}, "validation_fraction"),
        ({"time_budget_s": 0}, "time_budget_s"),
        ({"learning_rate": 1e-5}, "learning_rate"),
    ],
)
def test_a_bad_parameter_is_named(values, field):
    with pytest.raises(InvalidParams) as caught:
        parse_params(values)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


def test_unknown_loss_message_lists_nothing_vague():
    with pytest.raises(InvalidParams, match=r"^loss: Invalid enum value 'hinge'"):
        parse_params({"loss": "hinge"})


def test_params_built_directly_are_checked_too():
    with pytest.raises(InvalidParams, match=r"^epochs: "):
        validated(TrainParams(epochs=-3))
    assert validated(TrainParams(loss="lambda", lr=1e-4)).loss == "lambda"


def test_fewer_triplets_than_the_minimum_abort_with_the_exact_message(tmp_path):
    triplets = tiny_triplets(29)
    with pytest.raises(NotEnoughTriplets) as caught:
        train_cross_encoder(triplets, tmp_path, TrainParams())
    assert str(caught.value) == "Only 29 triplets (< 30); abort"
    blank = Triplet("  ", "code", "a.py:1-2", [], [], "logs")
    with pytest.raises(NotEnoughTriplets, match=r"^Only 30 triplets \(< 31\); abort$"):
        train_cross_encoder([*tiny_triplets(30), blank], tmp_path, TrainParams(min_triplets=31))
    assert not any(tmp_path.iterdir())


def test_a_base_model_that_is_not_a_model_directory_is_named(tmp_path):
    with pytest.raises(InvalidParams, match=r"^base_model: "):
        train_cross_encoder(tiny_triplets(30), tmp_path, TrainParams(base_model=str(tmp_path)))


def test_validation_holds_out_whole_queries_reproducibly():
    triplets = tiny_triplets(36)
    triplets += [Triplet(triplets[0].query, "other answer", "b.py:1-2", ["x"], ["c.py:1-2"], "logs")]
    train, held = split_by_query(triplets, 0.2, seed=7)
    assert len(train) + len(held) == len(triplets)
    assert {t.query for t in train}.isdisjoint({t.query for t in held})
    assert len({t.query for t in held}) == round(0.2 * 36)
    assert split_by_query(triplets, 0.2, seed=7) == (train, held)
    assert split_by_query(triplets, 0.2, seed=8)[1] != held
    assert split_by_query(triplets, 0.0, seed=7) == (triplets, [])


def test_max_length_follows_the_pairs_clamped_and_rounded():
    assert [choose_max_length(n) for n in (10, 64, 65, 100, 128, 129, 144, 900)] == [
        64, 64, 96, 128, 128, 144, 144, 144,
    ]  # fmt: skip


class LengthTokenizer:
    """Stands in for a Hugging Face tokenizer: a pair is as long as its words plus 3 special tokens."""

    def __call__(self, queries, texts, truncation, verbose):
        assert truncation is False
        return {
            "input_ids": [
                [0] * (len(q.split()) + len(t.split()) + 3) for q, t in zip(queries, texts, strict=True)
            ]
        }


def test_pair_length_percentile_is_the_90th():
    triplets = [Triplet("q", " ".join(["w"] * n), "a", [], [], "logs") for n in range(1, 101)]
    assert pair_length_percentile(LengthTokenizer(), triplets, negatives=3) == 90 + 4


def test_each_loss_gets_the_rows_it_expects():
    triplets = tiny_triplets(4, negatives=2)
    bce, per_row = build_dataset(triplets, TrainParams(loss="bce", negatives_per_query=2))
    assert bce.column_names == ["query", "text", "label"] and per_row == 1.0
    assert bce["label"][:3] == [1.0, 0.0, 0.0] and len(bce) == 12
    assert bce["text"][:3] == [triplets[0].positive_text, *triplets[0].negative_texts]
    ranked, per_row = build_dataset(triplets, TrainParams(loss="lambda", negatives_per_query=1))
    assert ranked.column_names == ["query", "docs", "labels"] and per_row == 2.0
    assert ranked["labels"][0] == [1.0, 0.0]
    mnrl, _ = build_dataset(triplets, TrainParams(loss="mnrl", negatives_per_query=3))
    assert mnrl.column_names == ["query", "positive", "negative_1", "negative_2", "negative_3"]
    first = mnrl[0]
    assert [first["negative_1"], first["negative_2"]] == triplets[0].negative_texts
    assert first["negative_3"] in {t.positive_text for t in triplets[1:]}  # filled from other queries


@pytest.mark.slow
def test_time_budget_stops_cleanly_and_still_saves(tmp_path):
    reports: list[tuple[float, str]] = []
    params = TrainParams(**TINY, time_budget_s=0.001, validation_fraction=0.2)
    result = train_cross_encoder(
        tiny_triplets(36), tmp_path, params, progress=lambda f, m: reports.append((f, m))
    )
    assert result.stop_reason == "time_budget"
    assert result.steps == 1 < result.planned_steps
    assert (result.hf_dir / "model.safetensors").stat().st_size > 1_000_000
    assert (result.hf_dir / "tokenizer.json").exists()
    assert not (tmp_path / "trainer").exists()  # the trainer's scratch directory is removed
    assert result.loss_curve == [LossPoint(1, result.loss_curve[0].loss)]
    assert math.isfinite(result.loss_curve[0].loss)
    assert [v.step for v in result.validation] == [0, 1]  # before training, and what was saved
    assert all(0 < v.mrr <= 1 and v.loss is not None for v in result.validation)
    assert result.params.max_length == 64 and result.pairs_per_s > 0
    assert result.validation_triplets == 7 * 1 and result.train_triplets == 29
    assert result.triplets_by_source == {"bootstrap": 24, "golden": 12}
    assert all(0 <= f <= 1 for f, _ in reports) and reports[-1][0] == 1.0


@pytest.mark.slow
def test_a_cancelled_run_saves_nothing(tmp_path):
    params = TrainParams(**TINY, validation_fraction=0.0)
    with pytest.raises(TrainingCancelled, match="after 1 steps"):
        train_cross_encoder(tiny_triplets(30), tmp_path, params, should_stop=lambda: True)
    assert not (tmp_path / "hf").exists()
    assert not Path(tmp_path / "trainer").exists()


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["mnrl", "lambda"])
def test_the_ranking_losses_train_and_validate(tmp_path, loss):
    tiny = {**TINY, "batch_size": 4, "negatives_per_query": 2}
    params = TrainParams(**tiny, loss=loss, time_budget_s=0.001, validation_fraction=0.1)
    result = train_cross_encoder(tiny_triplets(36), tmp_path, params)
    assert result.steps == 1 and math.isfinite(result.loss_curve[0].loss)
    assert [v.step for v in result.validation] == [0, 1]
    assert all(v.loss is not None and math.isfinite(v.loss) for v in result.validation)
    assert (result.hf_dir / "model.safetensors").exists()
