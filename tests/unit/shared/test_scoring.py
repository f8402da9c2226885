"""The ONNX cross-encoder scorer reproduces CrossEncoder.predict logits (exported once per session)."""

from pathlib import Path

import numpy as np
import pytest

from shared.scoring import DEFAULT_MAX_LENGTH, CrossEncoderScorer, trained_max_length

pytestmark = pytest.mark.slow
MAX_LENGTH = 64
QUERY = "where is the OAuth token validated?"
TEXTS = [
    "def validate(token):\n    return jwt.decode(token, KEY)\n",
    "class RateLimiter:\n    '''Token bucket.'''\n    def acquire(self, n: int = 1) -> bool: ...\n",
    "word " * 300,  # longer than max_length: the text is truncated, the query kept
    "",
    "café, naïve — ünïcödé and emoji 🎉",
    "x = 1",
]
LONG_QUERY = "why " * 80  # longer than max_length itself: cut as in training ("longest_first")


@pytest.fixture(scope="session")
def hf_dir(tmp_path_factory) -> Path:
    """The MiniLM encoder with a random, far from flat scoring head, saved as a CrossEncoder."""
    import torch
    from sentence_transformers.cross_encoder import CrossEncoder

    from services.trainer.params import TrainParams, base_model_dir

    torch.manual_seed(0)
    model = CrossEncoder(
        str(base_model_dir(TrainParams())),
        num_labels=1,
        max_length=MAX_LENGTH,
        local_files_only=True,
        device="cpu",
    )
    torch.nn.init.normal_(model.model.classifier.weight, std=1.0)  # an untrained head scores ~0 for all
    hf_dir = tmp_path_factory.mktemp("hf")
    model.save_pretrained(str(hf_dir), create_model_card=False)
    return hf_dir


@pytest.fixture(scope="session")
def model_dir(hf_dir, tmp_path_factory) -> Path:
    from services.trainer.export import write_onnx

    out = tmp_path_factory.mktemp("onnx")
    write_onnx(hf_dir, out)
    return out


@pytest.fixture(scope="session")
def pairs() -> list[tuple[str, str]]:
    return [(QUERY, text) for text in TEXTS] + [(LONG_QUERY, TEXTS[0]), (LONG_QUERY, TEXTS[2])]


@pytest.fixture(scope="session")
def reference(hf_dir, pairs) -> np.ndarray:
    from services.trainer.export import pytorch_scores

    return pytorch_scores(hf_dir, pairs, MAX_LENGTH)


def test_the_trained_max_length_is_read_from_the_tokenizer_config(model_dir, tmp_path):
    assert trained_max_length(model_dir) == MAX_LENGTH
    assert trained_max_length(tmp_path) == DEFAULT_MAX_LENGTH
    assert CrossEncoderScorer(model_dir).max_length == MAX_LENGTH


def test_fp32_matches_cross_encoder_predict(model_dir, pairs, reference):
    assert reference.std() > 0.1  # the head separates the pairs: the comparison means something
    scores = CrossEncoderScorer(model_dir, quantized=False, batch_size=3).score_pairs(pairs)
    assert scores.dtype == np.float32 and scores.shape == (len(pairs),)
    np.testing.assert_allclose(scores, reference, atol=1e-4, rtol=0)


def test_int8_runs_the_quantized_graph_close_to_fp32(model_dir, pairs, reference):
    """Loose bounds: a random head magnifies int8 noise; export parity checks trained models."""
    scorer = CrossEncoderScorer(model_dir)
    assert scorer.model_path.name == "model.int8.onnx"
    deviation = np.abs(scorer.score_pairs(pairs) - reference)
    assert 1e-3 < deviation.max() < reference.std()
    ranks = np.argsort(np.argsort(scorer.score_pairs(pairs))), np.argsort(np.argsort(reference))
    assert np.corrcoef(*ranks)[0, 1] > 0.8


def test_batching_and_order_do_not_change_scores(model_dir, pairs):
    scorer = CrossEncoderScorer(model_dir, quantized=False, batch_size=2)
    together = scorer.score(QUERY, TEXTS)
    alone = np.array([scorer.score(QUERY, [text])[0] for text in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_allclose(scorer.score(QUERY, TEXTS[::-1]), together[::-1], atol=1e-5)
    np.testing.assert_allclose(together, scorer.score_pairs(pairs[: len(TEXTS)]), atol=1e-6)


def test_nothing_to_score(model_dir):
    scores = CrossEncoderScorer(model_dir).score(QUERY, [])
    assert scores.shape == (0,) and scores.dtype == np.float32
