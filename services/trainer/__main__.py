"""`python -m services.trainer`: the trainer service (mine and train jobs, one at a time)."""

from __future__ import annotations

import asyncio
import logging
import sys

from services.trainer.app import create_app
from shared.bus import StackNotRunning
from shared.settings import SettingsError


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("faststream").setLevel(logging.WARNING)
    try:
        asyncio.run(create_app().run())
    except (SettingsError, StackNotRunning) as exc:
        print(f"trainer: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
