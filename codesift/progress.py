"""A one-line progress display for long jobs (a bar on a terminal, plain lines elsewhere)."""

from __future__ import annotations

import sys
import time

from shared.schemas import JobProgress


class ProgressLine:
    def __init__(self, label: str, stream=sys.stderr):
        self.label = label
        self.stream = stream
        self.tty = stream.isatty()
        self._last_plain = 0.0

    def update(self, event: JobProgress) -> None:
        pct = int(event.progress * 100)
        if self.tty:
            filled = pct * 30 // 100
            bar = "█" * filled + "·" * (30 - filled)
            self.stream.write(f"\r{self.label} [{bar}] {pct:3d}% {event.message[:60]:<60}")
            self.stream.flush()
        elif event.state != "running" or time.monotonic() - self._last_plain > 2.0:
            self._last_plain = time.monotonic()
            self.stream.write(f"{self.label}: {event.state} {pct}% {event.message}\n")

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
