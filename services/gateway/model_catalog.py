"""What /api/reranker/models and /info answer: registry, evaluations and replicas merged into views."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from shared.paths import name_problem
from shared.schemas import ModelPointer, ModelTrained, PromotionDecision, ReplicaInfo

if TYPE_CHECKING:
    from services.gateway.models_client import ModelsClient
    from services.gateway.search_client import SearchClient

BACKEND = "onnxruntime"
NO_RERANKER = "none (fusion order)"
BLEND = "fused-rank blend (no learned combiner)"
COMBINER, COMBINER_CE = "learned combiner", "learned combiner + cross-encoder"
TOP_FEATURES = 10  # importances shown


class Decision(msgspec.Struct):
    """The promoter's latest decision on a model: which gates passed, why the others failed."""

    promoted: bool
    forced: bool
    gates: dict[str, bool]
    failed: list[str]  # names of the gates that failed
    reasons: list[str]
    timestamp: float


class ModelEntry(msgspec.Struct):
    """One trained model: how it was trained (from its manifest) and its latest evaluation."""

    version: str
    created: str | None
    sha256: str
    job_id: str
    production: bool
    triplets: dict[str, int]  # by source
    params: dict[str, Any]
    loss_curve: list[Any]  # [[step, loss], ...]
    validation: list[Any]  # [{"step", "epoch", "mrr", "loss"}, ...]
    parity: dict[str, Any]
    training: dict[str, Any]  # steps, stop reason, seconds, ... (the manifest's other figures)
    evaluation: dict[str, Any] | None  # ModelEvaluated: metrics, baselines, intervals, ...
    decision: Decision | None


class ModelList(msgspec.Struct):
    production: str | None
    previous: list[str]
    models: list[ModelEntry]  # newest first


class Production(msgspec.Struct):
    version: str
    sha256: str
    promoted_at: float
    previous: list[str]
    path: str | None  # the model directory on the gateway's machine, when it is there


class ReplicaModel(msgspec.Struct):
    """What one search replica serves."""

    replica_id: str
    version: str | None  # None: no reranker (fusion order)
    loaded_at: float | None
    checked_at: float | None  # the replica's last look at the production pointer
    error: str | None  # why the last load failed (the replica kept its previous model)
    reranker: str
    serves_production: bool


class FeatureShare(msgspec.Struct):
    feature: str  # a name of shared.features.FEATURES
    share: float  # of the ranker's total importance (all features sum to 1)


class RankerView(msgspec.Struct):
    """How production orders candidates, from its manifest's "combiner" section."""

    kind: str  # COMBINER, COMBINER_CE, BLEND or NO_RERANKER
    algorithm: str | None  # the combiner's: lambdamart | logistic; None without one
    uses_cross_encoder: bool  # whether a search runs the cross-encoder
    importances: list[FeatureShare]  # the TOP_FEATURES largest, largest first
    holdout: dict[str, Any] | None  # the trainer's held-out figures (groups, mrr_fusion, mrr_combiner...)


class RerankerInfo(msgspec.Struct):
    backend: str
    reranker: str  # what production is: a version, or none (fusion order)
    ranker: RankerView  # how production orders candidates
    production: Production | None
    loaded: bool  # every replica that answered serves production
    checked_at: float | None  # the latest check of the pointer by any replica
    metrics: dict[str, Any] | None  # production's latest evaluation: metrics of the candidate as served
    evaluation: dict[str, Any] | None  # that evaluation whole (baselines, intervals, questions)
    replicas: list[ReplicaModel]


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def decision_view(decision: PromotionDecision) -> Decision:
    return Decision(
        promoted=decision.promoted,
        forced=decision.forced,
        gates=decision.gates,
        failed=[name for name, passed in decision.gates.items() if not passed],
        reasons=decision.reasons,
        timestamp=decision.timestamp,
    )


def model_entry(
    trained: ModelTrained,
    evaluation: dict[str, Any] | None,
    decision: PromotionDecision | None,
    production: str | None,
) -> ModelEntry:
    manifest = trained.manifest
    training = _dict(manifest.get("training"))
    created = manifest.get("created")
    return ModelEntry(
        version=trained.version,
        created=created if isinstance(created, str) else None,
        sha256=trained.sha256,
        job_id=trained.job_id,
        production=trained.version == production,
        triplets=trained.triplets,
        params=_dict(manifest.get("params")),
        loss_curve=_list(training.get("loss_curve")),
        validation=_list(training.get("validation")),
        parity=_dict(manifest.get("parity")),
        training={k: v for k, v in training.items() if k not in ("loss_curve", "validation")},
        evaluation=evaluation,
        decision=decision_view(decision) if decision else None,
    )


def catalog(
    trained: list[ModelTrained],
    evaluations: dict[str, dict[str, Any]],
    decisions: dict[str, PromotionDecision],
    pointer: ModelPointer | None,
) -> ModelList:
    """Every trained model with its latest evaluation and decision, newest first."""
    production = pointer.version if pointer else None
    newest_first = sorted(
        trained, key=lambda m: (str(m.manifest.get("created") or ""), m.timestamp, m.version), reverse=True
    )
    return ModelList(
        production=production,
        previous=pointer.previous if pointer else [],
        models=[
            model_entry(m, evaluations.get(m.version), decisions.get(m.version), production)
            for m in newest_first
        ],
    )


def replica_model(replica: ReplicaInfo, production: str | None) -> ReplicaModel:
    return ReplicaModel(
        replica_id=replica.replica_id,
        version=replica.reranker_version,
        loaded_at=replica.reranker_loaded_at,
        checked_at=replica.reranker_checked_at,
        error=replica.reranker_error,
        reranker=replica.reranker,
        serves_production=replica.reranker_version == production,
    )


def ranker_view(manifest: dict[str, Any] | None, in_production: bool = True) -> RankerView:
    """What a model's manifest says about its ranking; a manifest without a "combiner" section
    (or none at all) is a cross-encoder served by the fused-rank blend."""
    if not in_production:
        return RankerView(NO_RERANKER, None, False, [], None)
    section = _dict((manifest or {}).get("combiner"))
    if not section:
        return RankerView(BLEND, None, True, [], None)
    uses = bool(section.get("uses_cross_encoder"))
    shares = [
        FeatureShare(str(name), float(share))
        for name, share in _dict(section.get("importances")).items()
        if isinstance(share, int | float) and share > 0
    ]
    shares.sort(key=lambda s: (-s.share, s.feature))
    algorithm = section.get("kind")
    return RankerView(
        kind=COMBINER_CE if uses else COMBINER,
        algorithm=algorithm if isinstance(algorithm, str) else None,
        uses_cross_encoder=uses,
        importances=shares[:TOP_FEATURES],
        holdout=_dict(section.get("holdout")) or None,
    )


def reranker_info(
    pointer: ModelPointer | None,
    evaluation: dict[str, Any] | None,
    replicas: list[ReplicaInfo],
    models_dir: Path,
    manifest: dict[str, Any] | None = None,
) -> RerankerInfo:
    """Production, how it ranks (`manifest`: production's), its evaluation, and whether every
    replica serves it."""
    version = pointer.version if pointer else None
    views = [replica_model(r, version) for r in replicas]
    checks = [v.checked_at for v in views if v.checked_at is not None]
    production = None
    if pointer is not None:
        directory = models_dir / pointer.version if name_problem(pointer.version) is None else None
        production = Production(
            version=pointer.version,
            sha256=pointer.sha256,
            promoted_at=pointer.promoted_at,
            previous=pointer.previous,
            path=str(directory) if directory is not None and directory.is_dir() else None,
        )
    metrics = evaluation.get("metrics") if evaluation else None
    return RerankerInfo(
        backend=BACKEND,
        reranker=version or NO_RERANKER,
        ranker=ranker_view(manifest, pointer is not None),
        production=production,
        loaded=bool(views) and all(v.serves_production for v in views),
        checked_at=max(checks) if checks else None,
        metrics=metrics if isinstance(metrics, dict) else None,
        evaluation=evaluation,
        replicas=views,
    )


async def production_info(search_client: SearchClient, models_client: ModelsClient) -> RerankerInfo:
    """`reranker_info` of what the registry and the replicas say now (/api/reranker/info, MCP)."""
    pointer = await models_client.production()
    evaluation = await models_client.evaluation(pointer.version) if pointer else None
    manifest = await models_client.manifest(pointer.version) if pointer else None
    replicas = await search_client.ping()
    return reranker_info(pointer, evaluation, replicas, models_client.models_dir, manifest)
