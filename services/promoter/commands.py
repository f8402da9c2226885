"""Promote and rollback commands as jobs: progress in KV `jobs`, a refused change is a failed job."""

from __future__ import annotations

import logging

import msgspec

from services.promoter.errors import PromotionError
from services.promoter.promotion import Promoter, model_version
from services.promoter.transient import retry_transient
from shared.jobs import JobReporter
from shared.schemas import PromoteCommand, PromotionDecision, RollbackCommand, command_kind

log = logging.getLogger("codesift.promoter")


async def run_command(promoter: Promoter, command: PromoteCommand | RollbackCommand) -> None:
    kind = command_kind(command)
    reporter = JobReporter(promoter.nc, promoter.js, command.job_id, kind)
    await reporter.report("running", 0.0, f"{kind} started")
    try:
        if isinstance(command, PromoteCommand):
            decision = await _promote_retrying(promoter, command)
            if decision is None:
                version = model_version(promoter.settings.models, command.model)
                await reporter.report(
                    "succeeded", 1.0, f"{version} is already in production", {"version": version}
                )
                return
        else:
            decision = await promoter.rollback(command.job_id)
    except PromotionError as exc:
        await reporter.report("failed", 0.0, str(exc))
        return
    except Exception as exc:
        log.exception("%s job %s failed", kind, command.job_id)
        await reporter.report("failed", 0.0, f"{type(exc).__name__}: {exc}")
        return
    state = "succeeded" if decision.promoted else "failed"
    await reporter.report(state, 1.0, summary(decision), msgspec.to_builtins(decision))


async def _promote_retrying(promoter: Promoter, command: PromoteCommand) -> PromotionDecision | None:
    """A promotion is safe to repeat (the pointer is written with compare-and-set, and a version
    already in production is only re-announced), so a transient bus error is retried."""
    return await retry_transient(
        f"promote {command.model}",
        lambda: promoter.promote(
            command.model, command.job_id, force=command.force, min_triplets=command.min_triplets
        ),
    )


def summary(decision: PromotionDecision) -> str:
    """One line for the job's message: what changed, or every reason it did not."""
    if decision.action == "rollback":
        return decision.reasons[0]
    if not decision.promoted:
        return f"{decision.version} not promoted: " + "; ".join(decision.reasons)
    skipped = [gate for gate, passed in decision.gates.items() if not passed]
    return f"promoted {decision.version}" + (f" (forced past: {', '.join(skipped)})" if skipped else "")
