"""The gateway's OpenAPI document as this checkout builds it, for Schemathesis to generate cases from.

Schemathesis' pytest loader for fixtures does not run on this pytest, so the cases are generated
from the document the app builds here (no stack needed at collection) and sent over HTTP to a real
stack; test_http_schema checks that the stack serves the same document at /schema/openapi.json.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from litestar.serialization import encode_json

OPENAPI_PATH = "/schema/openapi.json"


@functools.cache
def local_openapi() -> dict[str, Any]:
    from services.gateway.app import create_app
    from services.gateway.settings import GatewaySettings

    # `codesift up` gives the gateway an admin token: the operations that need it declare so
    # (the value is not in the document)
    settings = GatewaySettings(admin_token="the stack's own")
    document: dict[str, Any] = json.loads(encode_json(create_app(settings).openapi_schema.to_schema()))
    return document
