"""Parity of the ONNX embedder with sentence-transformers (the model is exported once per cache)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from services.search.embedding import Embedder
from services.search.export_embedder import default_source, ensure_embedder

pytestmark = pytest.mark.slow

TEXTS = [
    "where is the OAuth token validated?",
    "def add(a, b):\n    return a + b\n",
    "class RateLimiter:\n    '''Token bucket.'''\n    def acquire(self, n: int = 1) -> bool: ...\n",
    "word " * 600,  # longer than max_length: truncated like sentence-transformers does
    "",
    "café, naïve — ünïcödé and emoji 🎉",
]


@pytest.fixture(scope="session")
def export_dir() -> Path:
    return ensure_embedder(Path(os.environ["CODESIFT_CACHE_DIR"]))


@pytest.fixture(scope="session")
def reference() -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(default_source()), device="cpu")
    return model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1)


def test_fp32_matches_sentence_transformers(export_dir, reference):
    embeddings = Embedder(export_dir, quantized=False).embed(TEXTS)
    assert embeddings.shape == (len(TEXTS), 384)
    assert embeddings.dtype == np.float32
    assert cosines(embeddings, reference).min() >= 0.999


def test_int8_stays_close_to_sentence_transformers(export_dir, reference):
    embeddings = Embedder(export_dir, quantized=True).embed(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, rtol=1e-5)
    assert cosines(embeddings, reference).min() >= 0.97


def test_padding_and_order_do_not_change_embeddings(export_dir):
    embedder = Embedder(export_dir, quantized=False, batch_size=2)
    together = embedder.embed(TEXTS)
    alone = np.stack([embedder.embed_query(text) for text in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    reversed_order = embedder.embed(TEXTS[::-1])
    np.testing.assert_allclose(reversed_order[::-1], together, atol=1e-5)


def test_no_texts(export_dir):
    assert Embedder(export_dir).embed([]).shape == (0, 384)


def test_export_is_cached_and_serving_needs_no_torch(export_dir, tmp_path):
    cache = export_dir.parent.parent
    assert ensure_embedder(cache) == export_dir
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from services.search.export_embedder import ensure_embedder\n"
        "from services.search.embedding import Embedder\n"
        f"path = ensure_embedder(Path({str(cache)!r}))\n"
        "Embedder(path).embed(['hello'])\n"
        "heavy = sorted({'torch', 'transformers', 'sentence_transformers', 'optimum'} & set(sys.modules))\n"
        "print(heavy)\n"
    )
    root = Path(__file__).resolve().parents[3]
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "[]"
