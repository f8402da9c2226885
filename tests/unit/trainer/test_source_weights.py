"""Feedback weighs more than bootstrap: the bootstrap groups' weight in fitting is chosen by
cross-validation on people's queries, and the manifest's section records it with the score of
each weight tried."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from services.trainer.combiner import fit_combiner, prepare
from services.trainer.combiner.groups import family_weights
from services.trainer.combiner.select import BOOTSTRAP_WEIGHTS
from shared.schemas import Triplet
from tests.unit.trainer.click_world import click_world, search_in


def documentation_pairs(queries: int, seed: int) -> tuple[list[Triplet], dict]:
    """Bootstrap triplets that contradict the users: their answer is the best-fused source chunk."""
    _, lists = click_world(queries, seed=seed)
    triplets = []
    for query, found in lists.items():
        answer = next(c for c in found if not c.path.startswith("tests/"))
        triplets.append(
            Triplet(
                query=query,
                positive_text=answer.text,
                positive_doc_id=answer.doc_id,
                negative_texts=[],
                negative_doc_ids=[],
                source="bootstrap",
                repo="demo",
            )
        )
    return triplets, lists


@pytest.fixture(scope="module")
def prepared():
    clicked, lists = click_world(40, seed=0)
    mined, more = documentation_pairs(120, seed=4)
    return prepare(clicked + mined, search_in(lists | more), 20)


def test_bootstrap_weighs_less_in_fitting_when_it_contradicts_the_users(prepared, tmp_path):
    section = fit_combiner(prepared, tmp_path, ce_dir=None, setting="logistic")
    tried = section["cv"]["mrr_people_by_bootstrap_weight"]
    assert set(tried) == {str(w) for w in BOOTSTRAP_WEIGHTS}
    chosen = section["source_weights"]["bootstrap"]
    assert chosen < 1.0 and tried[str(chosen)] == max(tried.values())
    assert tried[str(chosen)] > tried["1.0"]  # equal families: the documentation pairs pull it off
    assert section["source_weights"]["logs"] == section["source_weights"]["golden"] == 1.0
    meta = msgspec.json.decode((tmp_path / "combiner.json").read_bytes())
    assert meta["training"]["source_weights"] == section["source_weights"]


def test_source_weights_scale_their_groups_and_keep_the_mean_weight(prepared):
    groups = prepared.groups
    equal = family_weights(groups)
    light = family_weights(groups, {"bootstrap": 0.1})
    assert light.mean() == pytest.approx(1.0) and equal.mean() == pytest.approx(1.0)
    boot = np.array([g.source == "bootstrap" for g in groups])
    assert boot.any() and (~boot).any()
    ratio = (light[boot].sum() / light[~boot].sum()) / (equal[boot].sum() / equal[~boot].sum())
    assert ratio == pytest.approx(0.1)


def test_one_family_alone_tries_no_weights(tmp_path):
    triplets, lists = click_world(24, seed=6)
    section = fit_combiner(prepare(triplets, search_in(lists), 20), tmp_path, ce_dir=None, setting="logistic")
    assert "mrr_people_by_bootstrap_weight" not in section["cv"]
    assert section["source_weights"]["bootstrap"] == 1.0
