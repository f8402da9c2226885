"""A train job end to end in process (no NATS): cross-encoder and combiner in one verified artifact,
or the cross-encoder alone with the reason recorded."""

from __future__ import annotations

import json

import pytest

from services.trainer.combiner.groups import build_groups
from services.trainer.combiner.holdout import cross_encoder_triplets, holdout_keys
from services.trainer.manifest import verify_manifest
from services.trainer.mining import store_triplets
from services.trainer.params import InvalidParams, parse_params
from services.trainer.settings import TrainerSettings
from services.trainer.sources import SourceError
from services.trainer.train_job import prepare_combiner, run_train
from shared.combiner import Combiner, has_combiner
from shared.schemas import TrainCommand
from tests.unit.trainer.click_world import click_world, search_in

TINY = {"epochs": 1, "max_length": 64, "batch_size": 8, "time_budget_s": 60.0, "min_triplets": 10}


def settings_with(tmp_path, triplets, **extra) -> TrainerSettings:
    settings = TrainerSettings(data_dir=tmp_path / "data", golden_path=tmp_path / "no-golden.json", **extra)
    settings.training_dir.mkdir(parents=True)
    store_triplets(settings.training_dir / "triplets.jsonl", triplets)
    return settings


def run(settings: TrainerSettings, search) -> tuple[dict, dict, list[str]]:
    messages: list[str] = []
    result = run_train(
        TrainCommand(job_id="job-1", **TINY), settings, lambda f, m: messages.append(m), lambda: False, search
    )
    manifest = json.loads((settings.models / result["version"] / "manifest.json").read_text())
    return result, manifest, messages


@pytest.mark.slow
def test_the_artifact_holds_a_combiner_and_the_cross_encoder_never_saw_the_held_out_queries(tmp_path):
    triplets, lists = click_world(40, seed=4)
    settings = settings_with(tmp_path, triplets)
    result, manifest, messages = run(settings, search_in(lists))

    model_dir = settings.models / result["version"]
    verify_manifest(model_dir)  # combiner.onnx and combiner.json are hashed with the rest
    assert {"combiner.onnx", "combiner.json"} <= set(manifest["files"])
    assert has_combiner(model_dir) and Combiner(model_dir).kind == result["combiner"]
    section = manifest["combiner"]
    assert section["kind"] in ("lambdamart", "logistic", "ensemble") and section["groups"] == {"logs": 40}
    assert set(section["holdout"]) >= {"groups", "mrr_fusion", "mrr_combiner", "mrr_combiner_ce"}
    assert sum(section["importances"].values()) == pytest.approx(1.0, abs=1e-4)
    assert "combiner_skipped" not in manifest

    groups, _ = build_groups(triplets, search_in(lists), 20)
    held = holdout_keys(groups)
    trained_on = manifest["triplets"]["train"] + manifest["triplets"]["validation"]
    assert trained_on == len(cross_encoder_triplets(triplets, held)) == len(triplets) - len(held)
    assert any(m.startswith("combiner: ") for m in messages)


@pytest.mark.slow
def test_without_candidates_the_artifact_is_the_cross_encoder_alone_and_says_why(tmp_path):
    triplets, _ = click_world(40, seed=5)
    settings = settings_with(tmp_path, triplets)

    def down(query, repo, k):
        raise TimeoutError("no search replica answered")

    result, manifest, messages = run(settings, down)
    model_dir = settings.models / result["version"]
    assert not has_combiner(model_dir) and "combiner" not in manifest
    assert (
        manifest["combiner_skipped"]
        == "the search service gave no fusion candidates: no search replica answered"
    )
    assert result["combiner_skipped"] == manifest["combiner_skipped"]
    assert manifest["triplets"]["train"] + manifest["triplets"]["validation"] == len(triplets)
    assert any(m.startswith("no combiner: ") for m in messages)


def test_a_repository_no_longer_indexed_drops_its_groups_only():
    triplets, lists = click_world(12, seed=6)
    search = search_in(lists)
    gone = set(list(lists)[:6])

    def partly(query, repo, k):
        if query in gone:
            raise SourceError("repo", "'demo' is not indexed")
        return search(query, repo, k)

    prepared, reason = prepare_combiner(triplets, parse_params({}), partly, lambda f, m: None)
    assert prepared is None
    assert reason.startswith("only 6 query groups with a positive in the fusion top 20 (< 8")


def test_no_combiner_when_asked_for_none_or_when_holding_out_would_starve_the_cross_encoder():
    triplets, lists = click_world(12, seed=7)
    params = parse_params({"combiner": "none"})
    assert prepare_combiner(triplets, params, search_in(lists), lambda f, m: None) == (
        None,
        "combiner: none asked",
    )
    params = parse_params({"min_triplets": 12})
    prepared, reason = prepare_combiner(triplets, params, search_in(lists), lambda f, m: None)
    assert prepared is None and reason.startswith("the combiner's held-out queries would leave ")
    prepared, reason = prepare_combiner(
        triplets, parse_params({"min_triplets": 8}), search_in(lists), lambda f, m: None
    )
    assert reason is None and len(prepared.groups) == 12


@pytest.mark.parametrize(("values", "field"), [({"combiner": "forest"}, "combiner"), ({"top_n": 1}, "top_n")])
def test_bad_combiner_parameters_are_named(values, field):
    with pytest.raises(InvalidParams) as caught:
        parse_params(values)
    assert caught.value.field == field
