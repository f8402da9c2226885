"""`python -m services.trainer`: the trainer service (mine and train jobs, one at a time)."""

from __future__ import annotations

import sys

from services.trainer.app import create_app
from shared.service import run_service

if __name__ == "__main__":
    sys.exit(run_service("trainer", create_app))
