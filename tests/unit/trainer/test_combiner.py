"""The learned combiner: a planted preference learned and served, ONNX = native, the artifact contract,
query groups and the held-out queries the cross-encoder never trains on."""

from __future__ import annotations

import dataclasses

import msgspec
import numpy as np
import pytest

from services.trainer.combiner import Skipped, fit_combiner, prepare
from services.trainer.combiner.export import ParityError, combiner_graph, onnx_scores, parity, write_combiner
from services.trainer.combiner.groups import NEGATIVE, POSITIVE, UNJUDGED, build_groups
from services.trainer.combiner.holdout import cross_encoder_triplets, fold_of, holdout_keys
from services.trainer.combiner.models import RANKER_COLUMNS, fit
from services.trainer.combiner.select import (
    CE_MARGIN,
    KIND_MARGIN,
    Choice,
    choose,
    final_scores,
    judged_with_cross_encoder,
    pick,
)
from shared.combiner import Combiner, read_meta
from shared.features import FEATURES, INDEX, feature_matrix
from shared.ranking import served_order
from shared.schemas import Triplet
from tests.unit.trainer.click_world import candidate, click_world, search_in


@pytest.fixture(scope="module")
def prepared():
    triplets, lists = click_world(48, seed=0)
    return prepare(triplets, search_in(lists), 20)


@pytest.mark.parametrize("kind", ["lambdamart", "logistic", "ensemble"])
def test_a_planted_preference_is_learned_and_served_on_new_queries(prepared, tmp_path, kind):
    section = fit_combiner(prepared, tmp_path, ce_dir=None, setting=kind)
    assert section["kind"] == kind and section["uses_cross_encoder"] is False
    assert section["groups"] == {"logs": 48}
    assert section["holdout"]["mrr_chosen"] > section["holdout"]["mrr_fusion"] + 0.5

    combiner = Combiner(tmp_path)
    _, new = click_world(30, seed=1)  # queries and chunks it never saw
    served_first = [cands[served_order(q, cands, 20, combiner=combiner)[0][0]] for q, cands in new.items()]
    assert all(c.path.startswith("tests/") for c in served_first)
    assert sum(cands[0].path.startswith("tests/") for cands in new.values()) < 5  # fusion rarely does

    shares = section["importances"]
    assert set(shares) == set(FEATURES) and sum(shares.values()) == pytest.approx(1.0, abs=1e-4)
    assert shares["file_test"] + shares["file_source"] > 0.1
    assert shares["ce_logit"] == 0.0


@pytest.mark.parametrize("kind", ["lambdamart", "logistic", "ensemble"])
def test_onnx_scores_like_the_native_model_with_prior_and_cross_encoder(prepared, tmp_path, kind):
    ranker = fit(kind, prepared.groups)
    choice = Choice(kind=kind, prior=0.7, ce_weight=0.3)
    rng = np.random.default_rng(0)
    rows = np.concatenate(
        [feature_matrix(g.query, g.candidates, rng.normal(size=len(g.candidates))) for g in prepared.groups]
    )
    model = combiner_graph(ranker, choice)
    native = final_scores(ranker, choice, rows)
    assert np.abs(onnx_scores(model, rows) - native).max() < 1e-4 * max(1.0, np.abs(native).max())
    assert np.ptp(native) > 1.0  # the check compares scores that vary, not constants

    checked = parity(model, ranker, choice, rows)
    write_combiner(tmp_path, model, ranker, choice, top_n=20, importances={}, training={"parity": checked})
    meta = read_meta(tmp_path)
    assert meta["kind"] == kind and meta["uses_cross_encoder"] is True and meta["top_n"] == 20
    served = Combiner(tmp_path)
    assert served.uses_cross_encoder
    np.testing.assert_allclose(served.score(rows), native, atol=1e-4 * max(1.0, np.abs(native).max()))


@pytest.mark.parametrize("kind", ["lambdamart", "ensemble"])
def test_features_that_fall_on_a_float32_rounded_tree_threshold_split_as_in_lightgbm(prepared, kind):
    # Continuous features: LightGBM's thresholds fall between float32s. The planted world is
    # separable by one column, so each draw's trees split at one threshold, which rounds up or
    # down by chance: draw until one rounds up.
    for seed in range(5, 15):
        rng = np.random.default_rng(seed)
        groups = [
            dataclasses.replace(g, rows=(g.rows + rng.uniform(0, 0.01, g.rows.shape)).astype(np.float32))
            for g in prepared.groups
        ]
        ranker = fit(kind, groups)
        booster = ranker.model[0].model if kind == "ensemble" else ranker.model
        splits, stack = [], [t["tree_structure"] for t in booster.booster_.dump_model()["tree_info"]]
        while stack:
            node = stack.pop()
            if "split_index" in node:
                splits.append((node["split_feature"], node["threshold"]))
                stack += [node["left_child"], node["right_child"]]
        rounded_up = [(f, t) for f, t in splits if float(np.float32(t)) > t]  # x = float32(t) goes right
        if rounded_up:
            break
    assert rounded_up
    rows = np.repeat(groups[0].rows[:1], len(rounded_up), axis=0)
    for row, (feature, threshold) in zip(rows, rounded_up, strict=True):
        row[RANKER_COLUMNS[feature]] = np.float32(threshold)
    choice = Choice(kind=kind, prior=0.0, ce_weight=0.0)
    native = final_scores(ranker, choice, rows)
    assert np.abs(onnx_scores(combiner_graph(ranker, choice), rows) - native).max() < 1e-4


def test_an_export_that_does_not_match_the_model_fails_parity(prepared):
    ranker = fit("logistic", prepared.groups)
    rows = np.concatenate([g.rows for g in prepared.groups])
    model = combiner_graph(ranker, Choice(kind="logistic", prior=0.0, ce_weight=0.0))
    with pytest.raises(ParityError, match=r"differs from logistic"):
        parity(model, ranker, Choice(kind="logistic", prior=2.0, ce_weight=0.0), rows)


def test_the_ensemble_scores_the_mean_of_its_unit_scaled_rankers_and_is_one_of_the_kinds_chosen_from(
    prepared,
):
    rows = np.concatenate([g.rows for g in prepared.groups])
    ensemble = fit("ensemble", prepared.groups)
    mean = (
        fit("lambdamart", prepared.groups).predict(rows) + fit("logistic", prepared.groups).predict(rows)
    ) / 2
    np.testing.assert_allclose(ensemble.predict(rows), ensemble.scale * mean, rtol=1e-9)
    assert ensemble.scale != 1.0  # rescaled to unit within-group std, as the others are

    choice = choose(prepared.groups, holdout_keys(prepared.groups), None)
    assert {"mrr_lambdamart", "mrr_logistic", "mrr_ensemble"} <= set(choice.figures["cv"])
    with pytest.raises(ValueError, match=r"kind: 'forest' is not one of lambdamart, logistic, ensemble"):
        fit("forest", prepared.groups)  # type: ignore[arg-type]


def test_the_cross_encoder_is_used_only_when_it_helps_on_held_out_queries():
    triplets, lists = click_world(80, seed=8, planted=False)  # features cannot tell the clicked chunk
    groups = prepare(triplets, search_in(lists), 20).groups
    held = holdout_keys(groups)
    judged = judged_with_cross_encoder(groups, held)
    assert judged and all(groups[i].key in held for i in judged)
    rng = np.random.default_rng(0)
    knowing = {i: groups[i].labels * 2.0 + rng.normal(0, 0.5, len(groups[i].labels)) for i in judged}
    noise = {i: rng.normal(0, 1, len(groups[i].labels)) for i in judged}

    helped = choose(groups, held, knowing, ("logistic",))
    assert helped.ce_weight > 0
    assert helped.figures["holdout"]["mrr_chosen"] >= helped.figures["holdout"]["mrr_combiner"] + CE_MARGIN
    ignored = choose(groups, held, noise, ("logistic",))
    assert ignored.ce_weight == 0.0
    assert ignored.figures["holdout"]["mrr_chosen"] == ignored.figures["holdout"]["mrr_combiner"]


def test_too_few_groups_give_no_combiner_and_say_why():
    triplets, lists = click_world(5, seed=2)
    with pytest.raises(Skipped, match=r"only 5 query groups with a positive in the fusion top 20 \(< 8"):
        prepare(triplets, search_in(lists), 20)


def test_groups_label_positives_negatives_and_leave_other_chunks_of_a_positive_file_unjudged():
    found = [candidate(0, r, False, world=9) for r in range(6)]
    same_file = msgspec.structs.replace(found[3], path=found[1].path, doc_id=found[1].path + ":9-12")
    skipped_same_file = msgspec.structs.replace(found[4], path=found[1].path, doc_id=found[1].path + ":20-25")
    found[3], found[4] = same_file, skipped_same_file
    triplet = Triplet(
        query="where is the value scaled",
        positive_text=found[1].text,
        positive_doc_id=found[1].doc_id,
        negative_texts=[found[0].text, skipped_same_file.text],
        negative_doc_ids=[found[0].doc_id, skipped_same_file.doc_id],
        source="logs",
        repo="demo",
    )
    lost = msgspec.structs.replace(
        triplet, query="a question whose answer fusion missed", positive_doc_id="x:1-2"
    )
    lists = {triplet.query: found, lost.query: found}
    groups, stats = build_groups([triplet, lost], search_in(lists), 20)
    assert [g.query for g in groups] == [triplet.query]
    assert groups[0].labels.tolist() == [NEGATIVE, POSITIVE, NEGATIVE, UNJUDGED, NEGATIVE, NEGATIVE]
    assert stats.dropped == {"no_positive_in_top_n": 1} and stats.groups == {"logs": 1}
    assert groups[0].rows.shape == (6, len(FEATURES))
    assert not groups[0].rows[:, INDEX["ce_logit"]].any()


def test_held_out_queries_are_stable_about_a_quarter_and_never_given_to_the_cross_encoder(prepared):
    held = holdout_keys(prepared.groups)
    assert held == holdout_keys(list(reversed(prepared.groups)))
    assert 0 < len(held) < len(prepared.groups)
    assert 0.1 < len(held) / len(prepared.groups) < 0.45
    assert all((fold_of(g.key, held) == 0) == (g.key in held) for g in prepared.groups)
    assert {fold_of(g.key, held) for g in prepared.groups} == {0, 1, 2, 3}

    triplets, _ = click_world(48, seed=0)
    shouted = [msgspec.structs.replace(t, query=t.query.upper() + "?") for t in triplets]
    kept = cross_encoder_triplets(triplets + shouted, held)
    assert len(kept) == 2 * (len(triplets) - len(held))
    assert not {g.query for g in prepared.groups if g.key in held} & {t.query for t in kept}
    assert prepared.cross_encoder_triplets(triplets) == cross_encoder_triplets(triplets, held)


def test_a_tiny_set_still_holds_out_one_query_and_fits_on_the_rest():
    triplets, lists = click_world(8, seed=3)
    groups, _ = build_groups(triplets, search_in(lists), 20)
    held = holdout_keys(groups)
    assert 1 <= len(held) < len(groups)


def test_the_cross_encoder_weight_is_judged_on_peoples_held_out_queries():
    """A cross-encoder that knows the answers of the code's own queries (bootstrap) but not people's
    is not used: people's questions are what it is served for."""
    triplets, lists = click_world(80, seed=8, planted=False)
    triplets = [
        msgspec.structs.replace(t, source="bootstrap") if i % 2 else t for i, t in enumerate(triplets)
    ]
    groups = prepare(triplets, search_in(lists), 20).groups
    held = holdout_keys(groups)
    judged = judged_with_cross_encoder(groups, held)
    assert {groups[i].family for i in judged} == {"people", "code"}
    rng = np.random.default_rng(0)
    code_only = {
        i: groups[i].labels * 2.0 + rng.normal(0, 0.5, len(groups[i].labels))
        if groups[i].family == "code"
        else rng.normal(0, 1, len(groups[i].labels))
        for i in judged
    }
    everyone = {i: groups[i].labels * 2.0 + rng.normal(0, 0.5, len(groups[i].labels)) for i in judged}

    ignored = choose(groups, held, code_only, ("logistic",))
    assert ignored.ce_weight == 0.0
    people = sum(groups[i].family == "people" for i in judged)
    assert ignored.figures["holdout"]["groups"] == people and ignored.figures["holdout"]["people"] is True
    assert choose(groups, held, everyone, ("logistic",)).ce_weight > 0


def test_the_ensemble_is_kept_unless_another_kind_beats_it_clearly():
    def grid(lambdamart: float, logistic: float, ensemble: float, prior: float = 0.5):
        return [
            (lambdamart, 0.0, 0, "lambdamart"), (logistic, 0.0, 1, "logistic"),
            (ensemble - 0.001, 0.0, 2, "ensemble"), (ensemble, prior, 2, "ensemble"),
        ]  # fmt: skip

    assert pick(grid(0.800, 0.700, 0.800 - KIND_MARGIN / 2)) == (0.800 - KIND_MARGIN / 2, 0.5, "ensemble")
    assert pick(grid(0.800, 0.700, 0.800 - 2 * KIND_MARGIN)) == (0.800, 0.0, "lambdamart")
    assert pick(grid(0.700, 0.800 + 2 * KIND_MARGIN, 0.800)) == (0.800 + 2 * KIND_MARGIN, 0.0, "logistic")
    only_two = [(0.80, 0.0, 0, "lambdamart"), (0.80, 1.0, 1, "logistic")]
    assert pick(only_two) == (0.80, 1.0, "logistic")  # a tie: the larger prior, closer to fusion
