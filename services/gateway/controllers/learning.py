"""/api/reranker/schedule: the continuous loop's schedule and its next run (the trainer's snapshot)."""

from __future__ import annotations

from litestar import Controller, get
from litestar.exceptions import NotFoundException
from litestar.openapi.datastructures import ResponseSpec

from services.gateway.auth import READ
from services.gateway.errors import ErrorBody
from services.gateway.jobs_client import JobsClient
from shared.learning import LearnSchedule

NO_SCHEDULE = "no trainer has reported its learning schedule yet: is the trainer running?"


class LearningController(Controller):
    """The continuous learning loop (CODESIFT_LEARN_AFTER_EVENTS, CODESIFT_LEARN_EVERY)."""

    path = "/api/reranker"
    tags = ["reranker"]
    opt = READ

    @get(
        "/schedule",
        operation_id="rerankerSchedule",
        responses={404: ResponseSpec(ErrorBody, description="No trainer has reported a schedule yet.")},
    )
    async def schedule(self, jobs_client: JobsClient) -> LearnSchedule:
        """The schedule (after_events, every), the feedback events since the last automatic run,
        when that run began and how it ended, and the next run (next_run_at for the period,
        events_needed for the event trigger, next_run in words). Refreshed by the trainer every
        CODESIFT_LEARN_CHECK_S seconds (checked_at)."""
        found = await jobs_client.schedule()
        if found is None:
            raise NotFoundException(NO_SCHEDULE)
        return found
