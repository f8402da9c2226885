"""/api/reranker/experiment(s): put a candidate model in an online experiment, stop it, read the tallies.

While an experiment runs, a share of searches (CODESIFT_INTERLEAVE_SHARE) shows a team-draft
interleaving of production's and the candidate's rankings; clicks credit the team that showed the
result, and each search is a win, a loss or a tie for the candidate (shared/experiments.py).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Operation

from services.gateway.auth import ADMIN, READ
from services.gateway.commands import model_version, read_options
from services.gateway.errors import ErrorBody, InvalidParameter, TooLarge
from services.gateway.experiments_client import Experiments, ExperimentsClient
from services.gateway.models_client import ModelsClient
from shared.experiments import Experiment

MAX_BODY = 16 * 1024
_ERRORS = {
    400: ResponseSpec(ErrorBody, description="`model` is missing or names no registered model."),
    409: ResponseSpec(ErrorBody, description="An experiment is running already (start) or none is (stop)."),
    413: ResponseSpec(ErrorBody, description=f"The body is over {MAX_BODY} bytes."),
    503: ResponseSpec(ErrorBody, description="The bus is down: nothing changed."),
}
START_BODY = {
    "type": "object",
    "properties": {
        "model": {
            "type": "string",
            "minLength": 1,
            "description": "a version of GET /api/reranker/models, or a path inside the models directory",
        }
    },
    "required": ["model"],
    "additionalProperties": False,
}


class StartOperation(Operation):
    """The start body, documented (the handler reads it raw to name a wrong field itself)."""

    def to_schema(self) -> dict[str, Any]:
        document = super().to_schema()
        document["requestBody"] = {"required": True, "content": {"application/json": {"schema": START_BODY}}}
        return document


async def _body(request: Request) -> bytes:
    try:
        return await request.body()
    except RequestEntityTooLarge:
        raise TooLarge(f"the body is over {MAX_BODY} bytes; an experiment's is a model name") from None


class ExperimentController(Controller):
    """Online experiments: team-draft interleaving of a candidate with production."""

    path = "/api/reranker"
    tags = ["reranker"]
    opt = READ

    @post(
        "/experiment",
        operation_id="rerankerExperimentStart",
        operation_class=StartOperation,
        status_code=201,
        request_max_body_size=MAX_BODY,
        opt=ADMIN,
        responses=_ERRORS,
    )
    async def start(
        self, request: Request, experiments_client: ExperimentsClient, models_client: ModelsClient
    ) -> Experiment:
        """Start interleaving a candidate with production (body: {"model": version or path inside
        the models directory}); every replica, and one started later, joins it."""
        options = read_options(await _body(request))
        unknown = sorted(set(options) - {"model"})
        if unknown:
            raise InvalidParameter(unknown[0], "unknown option (the only one is model)")
        if options.get("model") is None:
            raise InvalidParameter(
                "model", "name the candidate model (a version of GET /api/reranker/models)"
            )
        version = model_version(models_client.models_dir, "model", options["model"])
        return await experiments_client.start(version)

    @post(
        "/experiment/stop",
        operation_id="rerankerExperimentStop",
        status_code=200,
        request_max_body_size=MAX_BODY,
        opt=ADMIN,
        responses=_ERRORS,
    )
    async def stop(self, request: Request, experiments_client: ExperimentsClient) -> Experiment:
        """Stop the running experiment; its tally stays readable. Any body is ignored."""
        await _body(request)  # within the limit
        return await experiments_client.stop()

    @get("/experiments", operation_id="rerankerExperiments")
    async def experiments(self, experiments_client: ExperimentsClient) -> Experiments:
        """The running experiment and every experiment's tally, newest first: the candidate's wins,
        losses and ties against production, the sign test's two-sided p-value, the winner once
        p < 0.05."""
        return await experiments_client.list()
