"""GET /api/reranker/{models,info,eval/latest}: the registry, evaluations, decisions and replicas merged,
and how production ranks (learned combiner or fused-rank blend, its feature importances)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.gateway.settings import GatewaySettings
from shared.features import FEATURES
from shared.schemas import ModelPointer, ReplicaInfo, encoder
from tests.combiner_fixtures import combiner_section
from tests.conftest import NatsServer
from tests.unit.gateway.conftest import TIMEOUT
from tests.unit.gateway.reranker_seed import NEW, OLD, decision, evaluated, seed, trained

OLD_MODEL = trained(
    OLD, "2026-01-01T12:00:00Z", {"golden": 80, "bootstrap": 40}, [[1, 0.9], [5, 0.6], [10, 0.4]]
)
NEW_MODEL = trained(NEW, "2026-01-02T12:00:00Z", {"logs": 30}, [[1, 1.0], [8, 0.5]])
POINTER = ModelPointer(version=OLD, sha256="a" * 64, promoted_at=1_767_268_800.0, previous=[])


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def settings(nats_server: NatsServer, data_dir: Path) -> GatewaySettings:
    return GatewaySettings(nats_url=nats_server.url, request_timeout=TIMEOUT, data_dir=data_dir)


def replica(replica_id: str, version: str | None, error: str | None = None) -> bytes:
    """A ping answer with the hot-reload fields: what the replica loaded, since when, its last check."""
    info = ReplicaInfo(
        replica_id=replica_id, index_version="idx-1", chunks=10, repos={"sample": 10},
        reranker=version or "none (fusion order)", started_at=100.0,
    )  # fmt: skip
    fields = {"reranker_version": version, "reranker_loaded_at": 200.0 if version else None,
              "reranker_error": error, "reranker_checked_at": 300.0 + len(replica_id)}  # fmt: skip
    return json.dumps({**json.loads(encoder.encode(info)), **fields}).encode()


async def test_eval_latest_is_404_with_a_clear_message_before_any_evaluation(client):
    r = await client.get("/api/reranker/eval/latest")

    assert r.status_code == 404
    assert "no evaluation yet" in r.json()["detail"] and "codesift eval" in r.json()["detail"]


async def test_eval_latest_is_the_evaluators_latest(client, nats_server):
    await seed(nats_server.url, evaluations=[evaluated(OLD, 0.6, 0.8, None), evaluated(NEW, 0.7, 0.9, OLD)])

    r = await client.get("/api/reranker/eval/latest")

    assert r.status_code == 200
    latest = r.json()
    assert latest["version"] == NEW and latest["metrics"]["mrr"] == 0.7
    assert set(latest["baselines"]) == {"none", "production"}
    assert latest["intervals"]["none"] == pytest.approx({"mean": 0.2, "low": 0.15, "high": 0.25})


async def test_eval_latest_falls_back_to_the_file_in_the_data_dir(client, data_dir):
    saved = {"timestamp": "2026-01-02T12:00:00Z", "model_path": NEW, "total_questions": 3,
             "metrics": {"mrr": 0.5, "hit_at_1": 0.3, "hit_at_3": 0.6, "hit_at_5": 0.7, "hit_at_10": 1.0,
                         "ndcg_at_10": 0.55}}  # fmt: skip
    (data_dir / "evals").mkdir(parents=True)
    (data_dir / "evals" / "latest.json").write_text(json.dumps(saved))

    r = await client.get("/api/reranker/eval/latest")

    assert r.status_code == 200 and r.json() == saved


async def test_models_is_empty_before_any_training(client):
    r = await client.get("/api/reranker/models")

    assert r.status_code == 200
    assert r.json() == {"production": None, "previous": [], "models": []}


async def test_models_merges_trained_evaluations_decisions_and_production(client, nats_server):
    failed = decision(NEW, {"triplets": True, "mrr_vs_production": False, "ci_vs_none": True},
                      ["MRR 0.520 is below production 0.600 + 0.010"])  # fmt: skip
    await seed(
        nats_server.url,
        models=[OLD_MODEL, NEW_MODEL],
        evaluations=[evaluated(OLD, 0.6, 0.8, None), evaluated(NEW, 0.52, 0.78, OLD)],
        pointer=ModelPointer(
            version=OLD, sha256="a" * 64, promoted_at=5.0, previous=["cross-encoder-codesift-x"]
        ),
        decisions=[decision(NEW, {"triplets": True}, []), failed],  # the later decision stands
    )

    r = await client.get("/api/reranker/models")

    assert r.status_code == 200, r.text
    listing = r.json()
    assert (listing["production"], listing["previous"]) == (OLD, ["cross-encoder-codesift-x"])
    new, old = listing["models"]  # newest first
    assert (new["version"], new["production"], old["version"], old["production"]) == (NEW, False, OLD, True)
    assert old["triplets"] == {"golden": 80, "bootstrap": 40}
    assert old["loss_curve"] == [[1, 0.9], [5, 0.6], [10, 0.4]]
    assert [v["mrr"] for v in old["validation"]] == [0.40, 0.61]
    assert old["params"]["loss"] == "bce" and old["parity"]["int8"] == {"spearman": 0.98}
    assert old["training"] == {"steps": 10, "stop_reason": "completed", "train_seconds": 42.0}
    assert old["created"] == "2026-01-01T12:00:00Z"
    assert old["evaluation"]["metrics"]["mrr"] == 0.6 and old["decision"] is None
    assert new["evaluation"]["intervals"]["production"]["high"] == pytest.approx(0.02)
    assert new["decision"]["failed"] == ["mrr_vs_production"] and new["decision"]["promoted"] is False
    assert new["decision"]["reasons"] == ["MRR 0.520 is below production 0.600 + 0.010"]


async def test_a_model_without_evaluation_is_listed_without_one(client, nats_server):
    await seed(nats_server.url, models=[NEW_MODEL])

    [model] = (await client.get("/api/reranker/models")).json()["models"]

    assert model["version"] == NEW and model["evaluation"] is None and model["production"] is False


async def test_info_reports_production_its_evaluation_and_each_replica(
    client, nats_server, stand_ins, data_dir
):
    (data_dir / "models" / OLD).mkdir(parents=True)
    await seed(
        nats_server.url, models=[OLD_MODEL], evaluations=[evaluated(OLD, 0.6, 0.8, None)], pointer=POINTER
    )
    stand_ins.ping_replica(replica("search-1", OLD))
    stand_ins.ping_replica(replica("search-2", None, error="sha256 mismatch: refused"))

    r = await client.get("/api/reranker/info")

    assert r.status_code == 200, r.text
    info = r.json()
    assert (info["backend"], info["reranker"], info["loaded"]) == ("onnxruntime", OLD, False)
    assert info["production"] == {
        "version": OLD, "sha256": "a" * 64, "promoted_at": POINTER.promoted_at, "previous": [],
        "path": str(data_dir / "models" / OLD),
    }  # fmt: skip
    assert info["metrics"]["mrr"] == 0.6 and info["metrics"]["hit_at_5"] == 0.8
    assert info["evaluation"]["total_questions"] == 40
    assert info["checked_at"] == 308.0
    one, two = info["replicas"]
    assert (one["replica_id"], one["version"], one["loaded_at"], one["serves_production"]) == (
        "search-1", OLD, 200.0, True
    )  # fmt: skip
    assert (two["version"], two["error"], two["serves_production"]) == (
        None,
        "sha256 mismatch: refused",
        False,
    )


async def test_info_says_loaded_once_every_replica_serves_production(client, nats_server, stand_ins):
    await seed(nats_server.url, pointer=POINTER)
    stand_ins.ping_replica(replica("search-1", OLD))
    stand_ins.ping_replica(replica("search-2", OLD))

    info = (await client.get("/api/reranker/info")).json()

    assert info["loaded"] is True
    assert info["production"]["path"] is None  # not on the gateway's disk
    assert info["metrics"] is None  # production was never evaluated


async def test_info_without_production_says_fusion_order(client, stand_ins):
    stand_ins.ping_replica(replica("search-1", None))

    info = (await client.get("/api/reranker/info")).json()

    assert (info["reranker"], info["production"], info["metrics"]) == ("none (fusion order)", None, None)
    assert info["loaded"] is True  # every replica serves what production is: no reranker
    assert info["replicas"][0]["version"] is None
    assert info["ranker"] == {
        "kind": "none (fusion order)", "algorithm": None, "uses_cross_encoder": False, "importances": [],
        "holdout": None,
    }  # fmt: skip


# ---------------------------------------------------------------- how production ranks

MANY_FEATURES = {name: float(i + 1) for i, name in enumerate(FEATURES[:12])}  # 12 weighted features


async def test_info_shows_the_learned_combiner_of_production_and_its_top_importances(client, nats_server):
    section = combiner_section(MANY_FEATURES, uses_cross_encoder=False, kind="lambdamart")
    model = trained(OLD, "2026-01-01T12:00:00Z", {"golden": 80}, [[1, 0.9]], combiner=section)
    await seed(nats_server.url, models=[model], pointer=POINTER)

    ranker = (await client.get("/api/reranker/info")).json()["ranker"]

    assert (ranker["kind"], ranker["algorithm"], ranker["uses_cross_encoder"]) == (
        "learned combiner", "lambdamart", False
    )  # fmt: skip
    shares = section["importances"]
    expected = sorted(shares, key=lambda name: -shares[name])[:10]  # the 10 largest of 12, largest first
    assert [i["feature"] for i in ranker["importances"]] == expected == list(reversed(FEATURES[2:12]))
    assert [i["share"] for i in ranker["importances"]] == pytest.approx([shares[name] for name in expected])
    assert ranker["holdout"]["mrr_combiner"] == 0.74


async def test_info_says_when_the_combiner_runs_the_cross_encoder(client, nats_server):
    section = combiner_section({"ce_logit": 2.0, "file_test": 1.0}, uses_cross_encoder=True)
    model = trained(OLD, "2026-01-01T12:00:00Z", {"golden": 80}, [[1, 0.9]], combiner=section)
    await seed(nats_server.url, models=[model], pointer=POINTER)

    ranker = (await client.get("/api/reranker/info")).json()["ranker"]

    assert (ranker["kind"], ranker["uses_cross_encoder"]) == ("learned combiner + cross-encoder", True)
    assert [i["feature"] for i in ranker["importances"]] == ["ce_logit", "file_test"]


async def test_info_says_fused_rank_blend_for_a_production_model_without_a_combiner(client, nats_server):
    await seed(nats_server.url, models=[OLD_MODEL], pointer=POINTER)

    ranker = (await client.get("/api/reranker/info")).json()["ranker"]

    assert ranker == {
        "kind": "fused-rank blend (no learned combiner)", "algorithm": None, "uses_cross_encoder": True,
        "importances": [], "holdout": None,
    }  # fmt: skip


async def test_info_reads_a_local_manifest_when_the_registry_has_none(client, nats_server, data_dir):
    directory = data_dir / "models" / OLD
    directory.mkdir(parents=True)
    section = combiner_section({"file_docs": 1.0}, kind="logistic")
    (directory / "manifest.json").write_text(json.dumps({"version": OLD, "combiner": section, "files": {}}))
    await seed(nats_server.url, pointer=POINTER)  # registered nowhere: a model copied by hand

    ranker = (await client.get("/api/reranker/info")).json()["ranker"]

    assert (ranker["kind"], ranker["algorithm"]) == ("learned combiner", "logistic")
    assert ranker["importances"] == [{"feature": "file_docs", "share": 1.0}]
