"""GET /api/search: a question in, ranked code chunks out."""

from __future__ import annotations

import time
from typing import Annotated

from litestar import Controller, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from services.gateway import instruments
from services.gateway.auth import READ
from services.gateway.errors import ErrorBody, InvalidParameter
from services.gateway.limits import limits
from services.gateway.search_client import SearchClient
from shared.schemas import Query, RepoName, SearchRequest, SearchResponse, TopK, newline_problem

NOT_BLANK = r"\S"  # JSON Schema patterns match anywhere: at least one character that is not white space


class SearchController(Controller):
    """Code search over the indexed repositories."""

    path = "/api/search"
    tags = ["search"]
    opt = READ

    @get(
        operation_id="search",
        summary="Search code",
        responses={
            400: ResponseSpec(ErrorBody, description="A parameter is invalid; `field` names it."),
            502: ResponseSpec(ErrorBody, description="A search replica answered something unreadable."),
            503: ResponseSpec(ErrorBody, description="The bus is down or no search replica answered."),
        },
    )
    async def search(
        self,
        search_client: SearchClient,
        q: Annotated[
            str,
            Parameter(
                required=True,
                description="The question or keywords (not only white space).",
                schema_extra={"pattern": NOT_BLANK},  # documented; the handler's own check names q
                **limits(Query),
            ),
        ] = "",
        k: Annotated[int, Parameter(description="How many results.", **limits(TopK))] = 10,
        repo: Annotated[
            str | None, Parameter(description="Only this repository.", **limits(RepoName))
        ] = None,
    ) -> SearchResponse:
        """Rank code chunks for `q`: BM25 and vector retrieval fused by RRF, then the promoted reranker.

        The answer is the replica's SearchResponse unchanged (the same JSON as
        `codesift search --json`); its `query_id` identifies this search in later feedback.
        """
        began = time.perf_counter()
        if not q.strip():
            raise InvalidParameter("q", "must contain more than white space")
        request = SearchRequest(query=q, k=k, repo=repo)
        if (problem := newline_problem(request)) is not None:  # "$" of the repo pattern let it through
            raise InvalidParameter(problem.field, problem.message)
        response = await search_client.search(request)
        instruments.SEARCH_SECONDS.observe(time.perf_counter() - began)
        instruments.SEARCHES.labels("ok").inc()
        return response
