"""GET /api/search: a question in, ranked code chunks out."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from services.gateway.errors import ErrorBody, InvalidParameter
from services.gateway.search_client import SearchClient
from shared.schemas import Query, RepoName, SearchRequest, SearchResponse, TopK


def _limits(annotated: Any) -> dict[str, Any]:
    """The msgspec.Meta limits of a shared schema type, as Litestar Parameter keywords.

    Litestar does not read msgspec.Meta on handler parameters; this keeps one source for the limits.
    """
    meta: msgspec.Meta = annotated.__metadata__[0]
    names = ("ge", "le", "min_length", "max_length", "pattern")
    return {name: getattr(meta, name) for name in names if getattr(meta, name) is not None}


class SearchController(Controller):
    """Code search over the indexed repositories."""

    path = "/api/search"
    tags = ["search"]

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
            str, Parameter(required=True, description="The question or keywords.", **_limits(Query))
        ] = "",
        k: Annotated[int, Parameter(description="How many results.", **_limits(TopK))] = 10,
        repo: Annotated[
            str | None, Parameter(description="Only this repository.", **_limits(RepoName))
        ] = None,
    ) -> SearchResponse:
        """Rank code chunks for `q`: BM25 and vector retrieval fused by RRF, then the promoted reranker.

        The answer is the replica's SearchResponse unchanged (the same JSON as
        `codesift search --json`); its `query_id` identifies this search in later feedback.
        """
        if not q.strip():
            raise InvalidParameter("q", "must contain more than white space")
        return await search_client.search(SearchRequest(query=q, k=k, repo=repo))
