"""`python -m services.search [replica|indexer]`: run one search replica, or the indexer."""

from __future__ import annotations

import argparse
import sys

from services.search.app import create_indexer_app, create_replica_app
from shared.service import run_service


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m services.search")
    parser.add_argument("role", choices=["replica", "indexer"], nargs="?", default="replica")
    args = parser.parse_args()
    create = create_replica_app if args.role == "replica" else create_indexer_app
    return run_service(f"search {args.role}", create)


if __name__ == "__main__":
    sys.exit(main())
