"""Root conftest: environment first, before anything imports settings."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent
# Exported ONNX models are cached across test runs (exporting takes seconds, not per test).
os.environ.setdefault("CODESIFT_CACHE_DIR", str(ROOT / ".cache" / "codesift"))
os.environ.pop("CODESIFT_NATS_URL", None)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
