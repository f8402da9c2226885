"""`python -m services.telemetry`: consume FEEDBACK into the query log (CODESIFT_LOG_PATH)."""

from __future__ import annotations

import sys

from services.telemetry.app import create_app
from shared.service import run_service

if __name__ == "__main__":
    sys.exit(run_service("telemetry", create_app))
