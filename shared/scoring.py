"""Cross-encoder scores with onnxruntime: what search replicas and the evaluator run (no torch).

Loads a directory written by the trainer's export (`model.onnx`, `model.int8.onnx`, tokenizer
files) and reproduces sentence-transformers' `CrossEncoder.predict` logits: pairs are tokenized
with the "longest_first" truncation the model was trained with. A query no longer than half the
budget is never cut (the text is), which is "keep the whole query" for any realistic query; a
longer one is cut as in training. Pairs are sorted by length and padded per batch to the longest
in it, so short pairs do not pay for long ones; scores come back in input order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

DEFAULT_MAX_LENGTH = 256


def trained_max_length(model_dir: Path) -> int:
    """The sequence length the model was trained with (tokenizer_config.json), else 256."""
    config = Path(model_dir) / "tokenizer_config.json"
    if config.exists():
        value = json.loads(config.read_text()).get("model_max_length")
        if isinstance(value, int) and 0 < value <= 8192:
            return value
    return DEFAULT_MAX_LENGTH


class CrossEncoderScorer:
    def __init__(
        self,
        model_dir: Path,
        *,
        quantized: bool = True,
        max_length: int | None = None,
        batch_size: int = 16,
        threads: int = 0,
    ):
        """`max_length` None: the length the model was trained with. `threads` 0: one per core."""
        model_dir = Path(model_dir)
        self.model_path = model_dir / ("model.int8.onnx" if quantized else "model.onnx")
        self.max_length = max_length or trained_max_length(model_dir)
        self.batch_size = batch_size
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=self.max_length, strategy="longest_first")
        self.tokenizer.no_padding()  # batches are padded here, each to its own longest pair
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle threads spinning after a run slowed other work on 2 cores; batch speed is the same.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # The arena keeps the peak of the longest batch for the life of the session (GBs at 512
        # tokens); without it memory goes back after each run.
        options.enable_cpu_mem_arena = False
        self.session = ort.InferenceSession(str(self.model_path), options, providers=["CPUExecutionProvider"])
        self.input_names = {i.name for i in self.session.get_inputs()}

    def score(self, query: str, texts: Sequence[str]) -> np.ndarray:
        """One float32 logit per text (higher: more relevant to the query), in input order."""
        return self.score_pairs([(query, text) for text in texts])

    def score_pairs(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        out = np.zeros(len(pairs), dtype=np.float32)
        if not pairs:
            return out
        encodings = self.tokenizer.encode_batch([(query, text) for query, text in pairs])
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            out[rows] = self._score_batch([encodings[i] for i in rows])
        return out

    def _score_batch(self, encodings: list[Encoding]) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros_like(ids)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            ids[row, :n] = encoding.ids
            types[row, :n] = encoding.type_ids
            mask[row, :n] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = types
        logits = self.session.run(None, feeds)[0]  # (batch, 1)
        return logits.reshape(len(encodings), -1)[:, 0]
