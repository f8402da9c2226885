"""`python -m services.promoter`: the promoter service (automatic promotion, promote and rollback)."""

from __future__ import annotations

import sys

from services.promoter.app import create_app
from shared.service import run_service

if __name__ == "__main__":
    sys.exit(run_service("promoter", create_app))
