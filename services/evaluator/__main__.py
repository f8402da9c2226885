"""`python -m services.evaluator`: the evaluator service (golden-question evaluations, one at a time)."""

from __future__ import annotations

import sys

from services.evaluator.app import create_app
from shared.service import run_service

if __name__ == "__main__":
    sys.exit(run_service("evaluator", create_app))
