"""What every answer of the gateway must satisfy beyond Schemathesis' own checks, and how to call it.

Schemathesis checks that no request gets a 5xx, that every status and body is documented, and that
schema-invalid requests are refused. Its `positive_data_acceptance` expects every schema-valid
request to be accepted; a few rules depend on what is stored or relate fields to each other, which
no JSON Schema says. `valid_requests_accepted` replaces it: a schema-valid request may be refused
with 400 only when the error names one of the fields below (the reason is the rule).
"""

from __future__ import annotations

import json
from typing import Any

from schemathesis import checks

GOLDEN_RULE = "a file on the worker's machine: no NUL or control character, no '..' in a relative path"
# operation label -> fields a schema-valid request may still be refused for (400), and why
DATA_DEPENDENT: dict[str, dict[str, str]] = {
    "GET /api/search": {"repo": "only an indexed repository can be searched"},
    "POST /api/telemetry/event": {
        "doc_id": "only a note may leave doc_id empty",
        "note": "a note event needs the text of the note",
    },
    "POST /api/reranker/mine": {"golden": GOLDEN_RULE},
    "POST /api/reranker/evaluate": {
        "golden": GOLDEN_RULE,
        "model": "must name a trained model inside the models directory",
        "model_path": "must name a trained model inside the models directory",
    },
    "POST /api/reranker/promote": {"model": "must name a trained model inside the models directory"},
    "POST /api/reranker/experiment": {"model": "must name a trained model, not the production one"},
}
ACCEPTED = {200, 202, 401, 403, 404, 409}  # 409: a trainer job runs; 404: no such job (yet)


def _error_field(body: bytes) -> str | None:
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        return None
    return parsed.get("field") if isinstance(parsed, dict) else None


def valid_requests_accepted(ctx: Any, response: Any, case: Any) -> bool | None:
    """A schema-valid request is accepted, or refused (400) for a rule in DATA_DEPENDENT only."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code >= 500:
        return None  # negative cases: negative_data_rejection; 5xx: not_a_server_error
    if response.status_code in ACCEPTED:
        return None
    field = _error_field(response.content) if response.status_code == 400 else None
    allowed = DATA_DEPENDENT.get(case.operation.label, {})
    if field in allowed:
        return None
    raise AssertionError(
        f"schema-valid request refused with {response.status_code} (field {field!r}; rules the schema "
        f"cannot say for {case.operation.label}: {sorted(allowed) or 'none'}): {response.content[:300]!r}"
    )


CALL_CHECKS = {
    "additional_checks": [valid_requests_accepted],
    "excluded_checks": [checks.positive_data_acceptance],
}
