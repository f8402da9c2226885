"""`python -m services.gateway`: serve the gateway with uvicorn on CODESIFT_HTTP_HOST:CODESIFT_HTTP_PORT."""

from __future__ import annotations

from typing import Any

import uvicorn

from services.gateway.app import create_app
from shared.settings import settings

LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"short": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s", "datefmt": "%H:%M:%S"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "short"}},
    "root": {"handlers": ["stderr"], "level": "INFO"},
}


def main() -> None:
    config = settings()
    uvicorn.run(create_app(config), host=config.http_host, port=config.http_port, log_config=LOG_CONFIG)


if __name__ == "__main__":
    main()
