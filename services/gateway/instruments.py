"""The gateway's Prometheus metrics: searches as HTTP clients see them, feedback accepted or refused.

Served with the process's other metrics at GET /metrics (controllers/metrics.py). What a search
costs inside a replica, stage by stage, is the replicas' (`codesift_search_stage_seconds`).
"""

from __future__ import annotations

from litestar import Request
from prometheus_client import Counter, Histogram

from shared.observability import LATENCY_BUCKETS

SEARCHES = Counter(
    "codesift_gateway_searches_total",
    "GET /api/search answers by outcome (ok, invalid, unavailable, bad_reply, error)",
    ["outcome"],
)
SEARCH_SECONDS = Histogram(
    "codesift_gateway_search_seconds",
    "Seconds the gateway took to answer a search that succeeded (replica and bus included)",
    buckets=LATENCY_BUCKETS,
)
FEEDBACK_ACCEPTED = Counter(
    "codesift_feedback_accepted_total", "Feedback events JetStream acknowledged (answered 202)"
)
FEEDBACK_REFUSED = Counter(
    "codesift_feedback_refused_total",
    "Feedback events refused, by reason (invalid, too_large, unavailable, error)",
    ["reason"],
)

SEARCH_OPERATION, FEEDBACK_OPERATION = "search", "telemetryEvent"  # the handlers' operation ids
_OUTCOME_OF_STATUS = {400: "invalid", 413: "too_large", 502: "bad_reply", 503: "unavailable"}


def outcome_of(status: int) -> str:
    """The label of a failed request, from the status it is answered with (500 and others: error)."""
    return _OUTCOME_OF_STATUS.get(status, "error")


def count_failure(request: Request, status: int) -> None:
    """Count a search or feedback request answered with an error (errors.error_response calls this).

    Successes are counted by the handlers; a failure is counted here whether the handler raised it or
    Litestar refused the parameters before calling it.
    """
    handler = request.scope.get("route_handler")
    operation = getattr(handler, "operation_id", None)
    if operation == SEARCH_OPERATION:
        SEARCHES.labels(outcome_of(status)).inc()
    elif operation == FEEDBACK_OPERATION:
        FEEDBACK_REFUSED.labels(outcome_of(status)).inc()
