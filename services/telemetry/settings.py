"""Settings of the telemetry service."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import msgspec

from shared.settings import Settings, from_env

MIB = 1024 * 1024


class TelemetrySettings(Settings, kw_only=True):
    log_rotate_bytes: Annotated[int, msgspec.Meta(ge=4096)] = 64 * MIB  # queries.jsonl -> .1 past this
    log_keep: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 5  # rotated files kept: .1 .. .N
    telemetry_batch_size: Annotated[int, msgspec.Meta(ge=1, le=5000)] = 500  # events per write + fsync
    telemetry_batch_wait: Annotated[float, msgspec.Meta(gt=0, le=5)] = 0.05  # seconds to fill a batch
    telemetry_ack_wait: Annotated[float, msgspec.Meta(ge=1, le=3600)] = 10.0  # redelivery after a crash
    telemetry_join_attempts: Annotated[int, msgspec.Meta(ge=1, le=100)] = 3  # deliveries looking for it
    telemetry_retry_delay: Annotated[float, msgspec.Meta(gt=0, le=600)] = 1.0  # before a held event returns
    telemetry_impression_cache: Annotated[int, msgspec.Meta(ge=0)] = 5_000  # impressions kept in memory


def log_file(settings: Settings) -> Path:
    """CODESIFT_LOG_PATH, else DATA_DIR/logs/queries.jsonl."""
    return settings.log_path or settings.data_dir / "logs" / "queries.jsonl"


@functools.cache
def telemetry_settings() -> TelemetrySettings:
    return from_env(TelemetrySettings)
