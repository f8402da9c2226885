"""Promotion and rollback: gate a version, point production at it, audit the decision, broadcast it.

A promotion, in this order: the archive's sha256 is looked up (and checked against the trainer's),
KV `registry` "model" gets the new `ModelPointer` (compare-and-set), the `PromotionDecision` is
appended to the audit stream, and `ModelUpdated` is broadcast. A decision that does not promote is
only appended. For a rollback `promoted` means the change took effect (`version` None: no reranker).

Idempotence: an evaluation of the version already in production changes nothing; it only
re-broadcasts `ModelUpdated` when the last broadcast is not that version (a promoter stopped
between the pointer write and the broadcast). The automatic path also never acts on an evaluation
older than the last production change (`outdated` in the gate), so a redelivered evaluation cannot
undo a rollback. Decisions carry a Nats-Msg-Id (the evaluation's stream sequence or the job id) so a
redelivery within the EVENTS stream's duplicate window appends nothing new.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from nats.aio.client import Client
from nats.js import JetStreamContext

from services.promoter.archives import archive_sha256
from services.promoter.errors import PromotionError
from services.promoter.gates import GatePolicy, GateReport, check_gates
from services.promoter.instruments import count_decision
from services.promoter.online import with_online
from services.promoter.registry import feedback_events, last_update, read_evaluation, write_pointer
from services.promoter.settings import PromoterSettings
from services.promoter.transient import retry_transient
from shared import subjects
from shared.artifacts import ModelPathError, resolve_model_path
from shared.experiments import latest_tally
from shared.registry import read_model_pointer_revision
from shared.schemas import ModelEvaluated, ModelPointer, ModelUpdated, PromotionDecision, encoder
from shared.validation import version_problem

KEEP_PREVIOUS = 10  # production versions remembered for rollback
log = logging.getLogger("codesift.promoter")


def model_version(models_dir: Path, model: str) -> str:
    """The version a promote command names: a version, or a model directory inside `models_dir`."""
    try:
        version = resolve_model_path(models_dir, model.strip()).name
    except ModelPathError as exc:
        raise PromotionError(str(exc)) from None
    if (problem := version_problem(version)) is not None:
        raise PromotionError(f"model: {problem}")
    return version


class Promoter:
    """Serialises every change of the production pointer made by this process."""

    def __init__(self, settings: PromoterSettings, nc: Client, js: JetStreamContext):
        self.settings, self.nc, self.js = settings, nc, js
        self.lock = asyncio.Lock()

    def policy(self, min_triplets: int | None = None) -> GatePolicy:
        return GatePolicy(
            min_triplets=self.settings.promote_min_triplets if min_triplets is None else min_triplets,
            mrr_margin=self.settings.promote_mrr_margin,
            hit5_tolerance=self.settings.promote_hit5_tolerance,
        )

    async def on_evaluated(self, evaluation: ModelEvaluated, sequence: int) -> PromotionDecision | None:
        """Automatic promotion of an evaluated model; `sequence`: the evaluation's place in EVENTS.

        Returns the decision, or None when the version is already in production.
        """
        async with self.lock:
            pointer, revision = await read_model_pointer_revision(self.js)
            if pointer is not None and pointer.version == evaluation.version:
                await self._announce(pointer)
                return None
            _, changed_at = await last_update(self.js)
            report = check_gates(
                evaluation.version,
                evaluation,
                pointer.version if pointer else None,
                self.policy(),
                outdated=sequence < changed_at,
                events=await self._events(evaluation.version, pointer),
            )
            report = await self._online(report, evaluation.version)
            return await self._decide(
                evaluation.version,
                report,
                pointer,
                revision,
                force=False,
                job_id=evaluation.job_id,
                msg_id=f"evaluated-{sequence}",
            )

    async def promote(
        self, model: str, job_id: str, *, force: bool = False, min_triplets: int | None = None
    ) -> PromotionDecision | None:
        """Manual promotion: the same gates unless `force`. None: the version is already in production."""
        version = model_version(self.settings.models, model)
        async with self.lock:
            pointer, revision = await read_model_pointer_revision(self.js)
            if pointer is not None and pointer.version == version:
                await self._announce(pointer)
                return None
            evaluation = await read_evaluation(self.js, version)
            report = check_gates(
                version,
                evaluation,
                pointer.version if pointer else None,
                self.policy(min_triplets),
                events=await self._events(version, pointer),
            )
            report = await self._online(report, version)
            return await self._decide(
                version, report, pointer, revision, force=force, job_id=job_id, msg_id=f"job-{job_id}"
            )

    async def _events(self, version: str, pointer: ModelPointer | None) -> tuple[int, int]:
        """The feedback events the candidate's and production's training saw ("events" gate)."""
        production = await feedback_events(self.js, pointer.version) if pointer else 0
        return await feedback_events(self.js, version), production

    async def _online(self, report: GateReport, version: str) -> GateReport:
        """The gates, plus "online" when CODESIFT_PROMOTE_REQUIRE_ONLINE is on (promoter/online.py)."""
        if not self.settings.promote_require_online:
            return report
        return with_online(report, version, await latest_tally(self.js, version))

    async def rollback(self, job_id: str) -> PromotionDecision:
        """Back to the previous production version, or to no reranker when there is none.

        Not carried out (promoted False) when the previous version's archive is missing or altered.
        Each bus step is retried on a transient error; the pointer write only while it has not
        landed, so a retried rollback never goes back two versions.
        """
        async with self.lock:
            pointer, revision = await retry_transient(
                "rollback: read the pointer", lambda: read_model_pointer_revision(self.js)
            )
            if pointer is None:
                raise PromotionError("no reranker is in production: nothing to roll back")
            now = time.time()
            version = pointer.previous[0] if pointer.previous else None
            target: ModelPointer | None = None
            problem = ""
            if version is not None:
                try:
                    sha256 = await retry_transient(
                        f"rollback: look up {version}", lambda: archive_sha256(self.js, version)
                    )
                    target = ModelPointer(version, sha256, now, previous=pointer.previous[1:])
                except PromotionError as exc:
                    problem = f"artifact: cannot roll back to {version}: {exc}"
            decision = PromotionDecision(
                timestamp=now,
                version=version,
                action="rollback",
                promoted=not problem,
                forced=False,
                gates={} if version is None else {"artifact": not problem},
                reasons=[problem or f"rolled back from {pointer.version} to {version or 'no reranker'}"],
                job_id=job_id,
            )
            if decision.promoted:
                await retry_transient("rollback: write the pointer", lambda: self._replace(target, revision))
            await retry_transient(
                "rollback: record the decision",
                lambda: self._publish(subjects.MODEL_DECISION, decision, f"job-{job_id}"),
            )
            if decision.promoted:
                await retry_transient("rollback: broadcast", lambda: self._broadcast(target, now))
            log.info("%s", decision.reasons[0])
            return decision

    async def _replace(self, target: ModelPointer | None, revision: int) -> None:
        """write_pointer, unless an earlier attempt whose answer was lost already wrote `target`."""
        current, current_revision = await read_model_pointer_revision(self.js)
        if current_revision > revision and current == target:
            return
        await write_pointer(self.js, target, revision)

    async def _decide(
        self,
        version: str,
        report: GateReport,
        pointer: ModelPointer | None,
        revision: int,
        *,
        force: bool,
        job_id: str | None,
        msg_id: str,
    ) -> PromotionDecision:
        gates, reasons = dict(report.gates), list(report.reasons)
        sha256 = ""
        try:
            sha256 = await archive_sha256(self.js, version)
            gates["artifact"] = True
        except PromotionError as exc:  # force never skips this: nothing to point at
            gates["artifact"] = False
            reasons.append(f"artifact: {exc}")
        now = time.time()
        decision = PromotionDecision(
            timestamp=now,
            version=version,
            action="promote",
            promoted=report.allows(force) and gates["artifact"],
            forced=force,
            gates=gates,
            reasons=reasons,
            job_id=job_id,
        )
        if not decision.promoted:
            await self._publish(subjects.MODEL_DECISION, decision, msg_id)
            log.info("did not promote %s: %s", version, "; ".join(reasons))
            return decision
        previous = [pointer.version, *pointer.previous] if pointer else []
        target = ModelPointer(
            version, sha256, now, previous=[v for v in previous if v != version][:KEEP_PREVIOUS]
        )
        await write_pointer(self.js, target, revision)
        await self._publish(subjects.MODEL_DECISION, decision, msg_id)
        await self._broadcast(target, now)
        log.info("promoted %s%s", version, " (forced)" if force else "")
        return decision

    async def _announce(self, pointer: ModelPointer) -> None:
        """Broadcast the pointer again when the last broadcast is not it (an interrupted promotion)."""
        last, _ = await last_update(self.js)
        if last is None or (last.version, last.sha256) != (pointer.version, pointer.sha256):
            log.warning("production is %s but it was never broadcast: broadcasting it now", pointer.version)
            await self._broadcast(pointer, pointer.promoted_at)

    async def _broadcast(self, pointer: ModelPointer | None, changed_at: float) -> None:
        event = ModelUpdated(
            timestamp=time.time(),
            version=pointer.version if pointer else None,
            sha256=pointer.sha256 if pointer else None,
        )
        await self._publish(subjects.MODEL_UPDATED, event, f"updated-{event.version}-{changed_at}")

    async def _publish(self, subject: str, event: ModelUpdated | PromotionDecision, msg_id: str) -> None:
        ack = await self.js.publish(subject, encoder.encode(event), headers={"Nats-Msg-Id": msg_id})
        if isinstance(event, PromotionDecision) and not ack.duplicate:  # a redelivery decides nothing new
            count_decision(event)
