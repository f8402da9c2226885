"""`python -m services.telemetry`: consume FEEDBACK into the query log (CODESIFT_LOG_PATH)."""

from __future__ import annotations

import asyncio
import logging

from services.telemetry.app import create_app
from shared.bus import StackNotRunning
from shared.settings import SettingsError


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        app = create_app()
        asyncio.run(app.run())
    except (StackNotRunning, SettingsError) as exc:
        raise SystemExit(f"telemetry: {exc}") from None


if __name__ == "__main__":
    main()
