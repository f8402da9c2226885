"""Settings of the gateway: the shared ones plus what only the HTTP edge decides."""

from __future__ import annotations

import functools
from typing import Annotated

import msgspec

from shared.settings import Settings, from_env


class GatewaySettings(Settings, kw_only=True):
    # Privacy: feedback events carry the client's IP address and user agent only when this is on.
    telemetry_store_client: bool = False
    # One line per HTTP request on stderr. Off by default: it adds ~30% to the gateway's CPU time per
    # feedback event (bench/feedback.py), and `codesift up` relays every line.
    http_access_log: bool = False
    # The MCP server's rag_answer: any OpenAI-compatible chat endpoint writes the answer from the
    # cited chunks when a base URL is set (e.g. http://127.0.0.1:8080/v1); extractive otherwise.
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: str = ""
    llm_timeout: Annotated[float, msgspec.Meta(gt=0, le=600)] = 20.0  # seconds; then the extractive answer
    llm_max_tokens: Annotated[int, msgspec.Meta(ge=16, le=32_768)] = 700
    # Who may do what over HTTP (services/gateway/auth.py); empty: not required. With an admin
    # token every mutating endpoint needs `Authorization: Bearer <admin token>`; with a read token
    # search, feedback, the reranker's GETs and /mcp need the read or the admin token. `codesift up`
    # sets the admin token from DATA_DIR/secrets/admin.token (created on its first start).
    admin_token: str = ""
    read_token: str = ""

    def __post_init__(self) -> None:
        if self.llm_base_url and not self.llm_model:
            raise ValueError("CODESIFT_LLM_MODEL: name the model to ask when CODESIFT_LLM_BASE_URL is set")


@functools.cache
def gateway_settings() -> GatewaySettings:
    return from_env(GatewaySettings)
