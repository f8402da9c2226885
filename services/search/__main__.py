"""`python -m services.search [replica|indexer]`: run one search replica, or the indexer."""

from __future__ import annotations

import argparse
import asyncio
import logging

from services.search.app import create_indexer_app, create_replica_app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.search")
    parser.add_argument("role", choices=["replica", "indexer"], nargs="?", default="replica")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = create_replica_app() if args.role == "replica" else create_indexer_app()
    asyncio.run(app.run())


if __name__ == "__main__":
    main()
