"""BM25 over code-aware tokens, scored by the `bm25s` library (Lucene variant, k1=1.5, b=0.75).

Documents come in as token lists (`tokens.code_tokens`), queries as token strings: bm25s maps them
through the index's own vocabulary. The vocabulary is sorted, so the same documents always give
byte-identical saved files.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import bm25s
import numpy as np

from services.search.vectors import top_k

METHOD, K1, B = "lucene", 1.5, 0.75
META = "bm25.json"
# bm25s sets its own logger to DEBUG at import, which logs a line per index built wherever the
# root logger has a handler; its warnings still get through.
logging.getLogger("bm25s").setLevel(logging.WARNING)


class BM25Index:
    def __init__(self, model: bm25s.BM25 | None, num_docs: int):
        """`model` is None when no document has a token (nothing can match)."""
        self.model = model
        self.num_docs = num_docs

    def __len__(self) -> int:
        return self.num_docs

    @classmethod
    def build(cls, docs_tokens: list[list[str]]) -> BM25Index:
        vocab = {token: i for i, token in enumerate(sorted({t for doc in docs_tokens for t in doc}))}
        if not vocab:
            return cls(None, len(docs_tokens))
        model = bm25s.BM25(method=METHOD, k1=K1, b=B, backend="numpy")
        ids = [[vocab[t] for t in doc] for doc in docs_tokens]
        model.index((ids, vocab), create_empty_token=False, show_progress=False)
        return cls(model, len(docs_tokens))

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """One BM25 score per document (float32); 0 where no query token occurs."""
        if self.model is None or not query_tokens:
            return np.zeros(self.num_docs, dtype=np.float32)
        return self.model.get_scores(list(query_tokens)).astype(np.float32, copy=False)

    def top(self, query_tokens: list[str], k: int, mask: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The k best (doc, score) pairs among docs with score > 0 (and in `mask`, if given)."""
        return top_k(self.scores(query_tokens), k, mask, positive=True)

    def save(self, directory: Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / META).write_text(json.dumps({"num_docs": self.num_docs, "empty": self.model is None}))
        if self.model is not None:
            self.model.save(directory, show_progress=False)

    @classmethod
    def load(cls, directory: Path) -> BM25Index:
        directory = Path(directory)
        meta = json.loads((directory / META).read_text())
        if meta["empty"]:
            return cls(None, meta["num_docs"])
        model = bm25s.BM25.load(directory, allow_pickle=False, show_progress=False)
        return cls(model, meta["num_docs"])
