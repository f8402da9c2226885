"""/api/reranker/*: the learning loop's jobs, their progress and logs, the models and what is served.

Every command answers 202 with its job id once JetStream stored it; follow the job with
GET /api/reranker/jobs/{job_id}. Mine and train are refused with 409 while a trainer job runs.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.exceptions import NotFoundException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from services.gateway.auth import ADMIN, READ
from services.gateway.command_bodies import options_operation
from services.gateway.commands import build_command, model_version, read_options
from services.gateway.errors import ErrorBody, InvalidParameter, TooLarge
from services.gateway.jobs_client import JobsClient
from services.gateway.limits import limits
from services.gateway.model_catalog import ModelList, RerankerInfo, catalog, production_info
from services.gateway.models_client import ModelsClient
from services.gateway.search_client import SearchClient
from shared.schemas import (
    Command,
    EvaluateCommand,
    JobId,
    JobProgress,
    MineCommand,
    PromoteCommand,
    RollbackCommand,
    TrainCommand,
    command_kind,
)

MAX_BODY = 16 * 1024
NO_EVALUATION = (
    "no evaluation yet: evaluate a model with `codesift eval` or POST /api/reranker/evaluate "
    "(a trained model is evaluated by itself)"
)


class JobAccepted(msgspec.Struct):
    job_id: str
    kind: str
    state: str = "queued"
    message: str = ""


class JobsStatus(msgspec.Struct):
    running: str | None
    jobs: list[JobProgress]


async def _body(request: Request) -> bytes:
    try:
        return await request.body()
    except RequestEntityTooLarge:
        raise TooLarge(f"the body is over {MAX_BODY} bytes; a command's options are a few hundred") from None


async def _submit(jobs_client: JobsClient, command: Command) -> JobAccepted:
    queued = await jobs_client.submit(command)
    return JobAccepted(command.job_id, command_kind(command), queued.state, queued.message)


# `model_path`: the original API's name of `model`; give one of them, not both.
EVALUATE_EXTRA = {"model_path": {"anyOf": [{"type": "string"}, {"type": "null"}]}}
EVALUATE_RULES = {"not": {"required": ["model", "model_path"]}}

_ERRORS = {
    400: ResponseSpec(ErrorBody, description="An option is invalid; `field` names it."),
    413: ResponseSpec(ErrorBody, description=f"The body is over {MAX_BODY} bytes."),
    503: ResponseSpec(ErrorBody, description="The bus is down: nothing was stored."),
}
_TRAINER_ERRORS = {
    **_ERRORS,
    409: ResponseSpec(ErrorBody, description="A trainer job is already running; the detail names it."),
}


class RerankerController(Controller):
    """The reranker's learning loop."""

    path = "/api/reranker"
    tags = ["reranker"]
    opt = READ  # the commands below are ADMIN

    @post(
        "/mine",
        operation_id="rerankerMine",
        operation_class=options_operation(MineCommand),
        status_code=202,
        request_max_body_size=MAX_BODY,
        opt=ADMIN,
        responses=_TRAINER_ERRORS,
    )
    async def mine(self, request: Request, jobs_client: JobsClient) -> JobAccepted:
        """Mine training triplets (optional body: {"source": "logs|golden|bootstrap|all", "golden": path})."""
        command = build_command(MineCommand, read_options(await _body(request)))
        return await _submit(jobs_client, command)

    @post(
        "/train",
        operation_id="rerankerTrain",
        operation_class=options_operation(TrainCommand),
        status_code=202,
        request_max_body_size=MAX_BODY,
        opt=ADMIN,
        responses=_TRAINER_ERRORS,
    )
    async def train(self, request: Request, jobs_client: JobsClient) -> JobAccepted:
        """Fine-tune the reranker (body, optional: epochs, lr, loss, min_triplets, batch_size,
        max_length, time_budget_s, seed)."""
        command = build_command(TrainCommand, read_options(await _body(request)))
        return await _submit(jobs_client, command)

    @post(
        "/evaluate",
        operation_id="rerankerEvaluate",
        operation_class=options_operation(EvaluateCommand, EVALUATE_EXTRA, **EVALUATE_RULES),
        status_code=202,
        request_max_body_size=MAX_BODY,
        opt=ADMIN,
        responses=_ERRORS,
    )
    async def evaluate(
        self, request: Request, jobs_client: JobsClient, models_client: ModelsClient
    ) -> JobAccepted:
        """Evaluate a model on the golden questions against no reranker and production (optional
        body: {"model_path": version or path inside the models directory (or "model"), "golden":
        path on the evaluator's machine, "split": "eval|all"}; no model: the newest trained)."""
        options = read_options(await _body(request))
        if "model_path" in options and "model" in options:
            raise InvalidParameter("model", "give model_path or model, not both")
        field = "model_path" if "model_path" in options else "model"
        if field in options:
            value = options.pop(field)
            if value is not None:
                options["model"] = model_version(models_client.models_dir, field, value)
        return await _submit(jobs_client, build_command(EvaluateCommand, options))

    @post(
        "/promote",
        operation_id="rerankerPromote",
        operation_class=options_operation(PromoteCommand),
        status_code=202,
        request_max_body_size=MAX_BODY,
        opt=ADMIN,
        responses=_ERRORS,
    )
    async def promote(
        self, request: Request, jobs_client: JobsClient, models_client: ModelsClient
    ) -> JobAccepted:
        """Promote a model to production if every gate passes (body: {"model": version or path
        inside the models directory, "force": skip the gates, "min_triplets": gate override})."""
        options = read_options(await _body(request))
        if "model" in options:
            options["model"] = model_version(models_client.models_dir, "model", options["model"])
        return await _submit(jobs_client, build_command(PromoteCommand, options))

    @post(
        "/rollback",
        operation_id="rerankerRollback",
        operation_class=options_operation(RollbackCommand),
        status_code=202,
        request_max_body_size=MAX_BODY,
        opt=ADMIN,
        responses=_ERRORS,
    )
    async def rollback(self, request: Request, jobs_client: JobsClient) -> JobAccepted:
        """Return to the previous production model (or to no reranker when there is none)."""
        command = build_command(RollbackCommand, read_options(await _body(request)))
        return await _submit(jobs_client, command)

    @get(
        "/jobs/{job_id:str}",
        operation_id="rerankerJob",
        responses={404: ResponseSpec(ErrorBody, description="No job has this id.")},
    )
    async def job(
        self,
        jobs_client: JobsClient,
        job_id: Annotated[str, Parameter(description="The id a command answered with.", **limits(JobId))],
    ) -> JobProgress:
        """One job's latest state (queued, running with its progress, succeeded or failed)."""
        state = await jobs_client.job(job_id)
        if state is None:
            raise NotFoundException(f"no job {job_id}")
        return state

    @get("/status", operation_id="rerankerStatus")
    async def status(self, jobs_client: JobsClient) -> JobsStatus:
        """The running trainer job (if any) and the latest jobs, newest first."""
        return JobsStatus(running=await jobs_client.running(), jobs=await jobs_client.jobs())

    @get("/logs", operation_id="rerankerLogs")
    async def logs(self, jobs_client: JobsClient) -> dict[str, Any]:
        """The last 100 lines of the trainer's running or last job."""
        return await jobs_client.logs()

    @get(
        "/eval/latest",
        operation_id="rerankerEvalLatest",
        responses={404: ResponseSpec(ErrorBody, description="No model was evaluated yet.")},
    )
    async def eval_latest(self, models_client: ModelsClient) -> dict[str, Any]:
        """The latest evaluation: the candidate's metrics as served, the baselines (none,
        production), the MRR intervals against each, the number of questions."""
        evaluation = await models_client.latest_evaluation()
        if evaluation is None:
            raise NotFoundException(NO_EVALUATION)
        return evaluation

    @get("/models", operation_id="rerankerModels")
    async def models(self, models_client: ModelsClient) -> ModelList:
        """Every trained model, newest first: training figures (params, triplets, loss curve,
        validation, parity), its latest evaluation and promotion decision, and which is production."""
        trained = await models_client.trained()
        evaluations = {}
        for model in trained:
            if (evaluation := await models_client.evaluation(model.version)) is not None:
                evaluations[model.version] = evaluation
        return catalog(
            trained, evaluations, await models_client.decisions(), await models_client.production()
        )

    @get("/info", operation_id="rerankerInfo")
    async def info(self, search_client: SearchClient, models_client: ModelsClient) -> RerankerInfo:
        """The production model (version, sha256, path), how it ranks (learned combiner or
        fused-rank blend, whether it runs the cross-encoder, its top feature importances), its
        evaluation, and what each replica serves (loaded version, since when, last check, error)."""
        return await production_info(search_client, models_client)
