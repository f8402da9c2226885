"""The request bodies of the command endpoints, documented in OpenAPI from the commands' msgspec schemas.

The handlers read the raw body themselves (so that every rejection names the field), so Litestar
cannot infer the body from their signatures: each command endpoint documents its options as the
command's JSON Schema less what the gateway sets (`type`, `job_id`).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.openapi.spec import Operation

from shared.schemas import Command

GATEWAY_SET = ("type", "job_id")
# The 202 answer links to the job it started (OpenAPI links: clients and Schemathesis follow them).
JOB_LINK = {
    "job": {
        "operationId": "rerankerJob",
        "parameters": {"job_id": "$response.body#/job_id"},
        "description": "Follow the job this command started.",
    }
}


def options_schema(
    kind: type[Command], extra: dict[str, Any] | None = None, **keywords: Any
) -> dict[str, Any]:
    """`kind`'s JSON Schema as clients send it: the options only, `extra` properties and `keywords`
    (JSON Schema keywords such as `not`) added."""
    _, components = msgspec.json.schema_components([kind])
    schema: dict[str, Any] = components[kind.__name__]
    for name in GATEWAY_SET:
        schema["properties"].pop(name, None)
    schema["properties"].update(extra or {})
    required = [name for name in schema.get("required", []) if name not in GATEWAY_SET]
    if required:
        schema["required"] = required
    else:
        schema.pop("required", None)
    schema.update(keywords)
    return schema


def options_operation(
    kind: type[Command], extra: dict[str, Any] | None = None, **keywords: Any
) -> type[Operation]:
    """An Operation class whose request body is `kind`'s options (optional unless one is required)
    and whose 202 answer links to the job."""
    schema = options_schema(kind, extra, **keywords)

    class OptionsOperation(Operation):
        def to_schema(self) -> dict[str, Any]:
            document = super().to_schema()
            document["requestBody"] = {
                "required": bool(schema.get("required")),
                "content": {"application/json": {"schema": schema}},
            }
            accepted = document.get("responses", {}).get("202")
            if isinstance(accepted, dict):
                accepted["links"] = JOB_LINK
            return document

    return OptionsOperation
