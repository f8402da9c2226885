"""/api/reranker/*: the learning loop's jobs (mine, train), their status and logs, and what is served."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.openapi.datastructures import ResponseSpec

from services.gateway.errors import ErrorBody, InvalidParameter
from services.gateway.jobs_client import JobsClient
from services.gateway.search_client import SearchClient
from shared.jobs import new_job_id
from shared.schemas import JobProgress, MineCommand, TrainCommand
from shared.validation import problem_from

MAX_BODY = 16 * 1024


class JobAccepted(msgspec.Struct):
    job_id: str
    kind: str
    state: str = "queued"


class JobsStatus(msgspec.Struct):
    running: str | None
    jobs: list[JobProgress]


def _command(kind: type, body: bytes) -> Any:
    """The request body (optional JSON object of options) as a validated command; 400 names the field."""
    options: dict[str, Any] = {}
    if body.strip():
        try:
            options = msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            raise InvalidParameter("body", f"not valid JSON: {exc}") from None
        if not isinstance(options, dict):
            raise InvalidParameter("body", "expected a JSON object of options")
        if "job_id" in options or "type" in options:
            raise InvalidParameter("job_id" if "job_id" in options else "type", "is set by the gateway")
    try:
        return msgspec.convert({"job_id": new_job_id(kind.__struct_config__.tag), **options}, kind)
    except msgspec.ValidationError as exc:
        problem = problem_from(exc)
        raise InvalidParameter(problem.field, problem.message) from None


_ERRORS = {
    400: ResponseSpec(ErrorBody, description="An option is invalid; `field` names it."),
    409: ResponseSpec(ErrorBody, description="A trainer job is already running; the detail names it."),
    503: ResponseSpec(ErrorBody, description="The bus is down: nothing was stored."),
}


class RerankerController(Controller):
    """The reranker's learning loop."""

    path = "/api/reranker"
    tags = ["reranker"]

    @post(
        "/mine",
        operation_id="rerankerMine",
        status_code=202,
        request_max_body_size=MAX_BODY,
        responses=_ERRORS,
    )
    async def mine(self, request: Request, jobs_client: JobsClient) -> JobAccepted:
        """Mine training triplets (optional body: {"source": "logs|golden|bootstrap|all", "golden": path})."""
        command = _command(MineCommand, await request.body())
        await jobs_client.submit(command)
        return JobAccepted(command.job_id, "mine")

    @post(
        "/train",
        operation_id="rerankerTrain",
        status_code=202,
        request_max_body_size=MAX_BODY,
        responses=_ERRORS,
    )
    async def train(self, request: Request, jobs_client: JobsClient) -> JobAccepted:
        """Fine-tune the reranker (body, optional: epochs, lr, loss, min_triplets, batch_size,
        max_length, time_budget_s, seed)."""
        command = _command(TrainCommand, await request.body())
        await jobs_client.submit(command)
        return JobAccepted(command.job_id, "train")

    @get("/status", operation_id="rerankerStatus")
    async def status(self, jobs_client: JobsClient) -> JobsStatus:
        """The running trainer job (if any) and the latest jobs, newest first."""
        return JobsStatus(running=await jobs_client.running(), jobs=await jobs_client.jobs())

    @get("/logs", operation_id="rerankerLogs")
    async def logs(self, jobs_client: JobsClient) -> dict[str, Any]:
        """The last 100 lines of the trainer's running or last job."""
        return await jobs_client.logs()

    @get("/info", operation_id="rerankerInfo")
    async def info(self, search_client: SearchClient) -> dict[str, Any]:
        """What the search replicas serve: each replica's reranker and index."""
        replicas = await search_client.ping()
        rerankers = sorted({r.reranker for r in replicas})
        return {
            "backend": "onnxruntime",
            "reranker": rerankers[0] if len(rerankers) == 1 else rerankers,
            "replicas": [msgspec.to_builtins(r) for r in replicas],
        }
