"""Where Prometheus finds a local stack's metrics: a port per service, recorded by `codesift up`.

The gateway serves its metrics at /metrics on its HTTP port; every other service gets a free
metrics port (CODESIFT_METRICS_PORT in its environment; the same one again when it is restarted).
They are recorded in DATA_DIR/stack.json ("metrics": process -> URL) and in a Prometheus file_sd
targets file, DATA_DIR/prometheus/targets.json, beside a prometheus.yml that reads it:
`prometheus --config.file=DATA_DIR/prometheus/prometheus.yml` scrapes the whole stack, however
many replicas it runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

TARGETS_FILE = "targets.json"
PROMETHEUS_CONFIG = """\
# Written by `codesift up`: prometheus --config.file={config}
# The targets (one per codesift process) are in {targets}, rewritten at each start.
global:
  scrape_interval: 15s
scrape_configs:
  - job_name: codesift
    file_sd_configs:
      - files: [{targets}]
        refresh_interval: 30s
"""


def service_of(process: str) -> str:
    """search-2 -> search: the service a process runs (its replicas share the name)."""
    head, _, tail = process.rpartition("-")
    return head if head and tail.isdigit() else process


def scrape_address(host: str, port: int) -> str:
    """host:port where a local Prometheus reaches a server listening on `host` (0.0.0.0: loopback)."""
    return f"{'127.0.0.1' if host in ('', '0.0.0.0', '::') else host}:{port}"


def metrics_urls(addresses: dict[str, str]) -> dict[str, str]:
    """process -> the URL of its metrics."""
    return {process: f"http://{address}/metrics" for process, address in addresses.items()}


def file_sd_targets(addresses: dict[str, str]) -> list[dict[str, object]]:
    """Prometheus file_sd entries: one target per process, labelled with its service and name."""
    return [
        {"targets": [address], "labels": {"service": service_of(process), "process": process}}
        for process, address in addresses.items()
    ]


def write_prometheus_files(directory: Path, addresses: dict[str, str]) -> Path:
    """Write targets.json and prometheus.yml under `directory` (each atomically); the config's path."""
    directory.mkdir(parents=True, exist_ok=True)
    targets = directory / TARGETS_FILE
    config = directory / "prometheus.yml"
    _write(targets, json.dumps(file_sd_targets(addresses), indent=2) + "\n")
    _write(config, PROMETHEUS_CONFIG.format(config=config, targets=targets))
    return config


def _write(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
