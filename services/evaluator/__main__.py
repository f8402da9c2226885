"""`python -m services.evaluator`: the evaluator service (golden-question evaluations, one at a time)."""

from __future__ import annotations

import asyncio
import logging
import sys

from services.evaluator.app import create_app
from shared.bus import StackNotRunning
from shared.settings import SettingsError


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("faststream").setLevel(logging.WARNING)
    try:
        asyncio.run(create_app().run())
    except (SettingsError, StackNotRunning) as exc:
        print(f"evaluator: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
