"""The reranker a replica serves: a learned combiner, a cross-encoder, or both, from one artifact.

What the artifact holds decides how the first `top_n` fusion candidates are ordered, always by
`shared.ranking.served_order` (the function the evaluator measures, so what is evaluated is what
is served):

- a learned combiner (`combiner.onnx`): it scores each candidate's feature row; when it was
  trained with the cross-encoder's logit as a feature, the cross-encoder scores the candidates
  first; when not, the cross-encoder is never opened (no memory, no ~200 ms per query);
- a cross-encoder alone: its ranking is blended with the fusion ranking (the fused-rank blend).

Cross-encoder scores run in length-sorted batches of CODESIFT_RERANKER_BATCH_SIZE pairs (by
default one pair at a time, whose int8 score then never depends on its neighbours) and are cached
per (model, query, chunk). A `LoadedReranker` never changes after it is built: the replica swaps
it by assigning one attribute, and a request that already holds one finishes on it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from services.search.score_cache import ScoreCache
from shared.combiner import Combiner, has_combiner
from shared.features import feature_matrix
from shared.ranking import needs_cross_encoder, served_order
from shared.schemas import Candidate
from shared.scoring import CrossEncoderScorer

BLEND = "fused-rank blend"
COMBINER = "learned combiner"
COMBINER_CE = "learned combiner + cross-encoder"
WARM_PAIRS = (  # run once before a new session serves: the first run pays for allocations
    ("where is the configuration loaded?", "def load_config(path):\n    return json.load(open(path))\n"),
    ("retry a failed request", "class Retry:\n    attempts = 3\n"),
)


@dataclass(frozen=True, slots=True)
class LoadedReranker:
    version: str
    sha256: str | None  # of the artifact archive in the object store; None for a local directory
    scorer: CrossEncoderScorer | None  # None when the combiner does not use the cross-encoder
    combiner: Combiner | None = None

    @property
    def kind(self) -> str:
        """How it orders candidates: learned combiner (+ cross-encoder), or fused-rank blend."""
        if self.combiner is None:
            return BLEND
        return COMBINER_CE if self.combiner.uses_cross_encoder else COMBINER

    @property
    def label(self) -> str:
        """What search responses and impressions say about the ranking."""
        return f"{self.version} ({self.kind})"


def build_reranker(
    model_dir: Path, version: str, sha256: str | None, max_length: int | None = None, batch_size: int = 1
) -> LoadedReranker:
    """Open what a verified directory serves and warm it; CPU work, call it from a thread.

    Raises shared.artifacts.ArtifactError for a combiner this build cannot serve (bad combiner.json,
    other features): the replica keeps the model it serves.
    """
    combiner = Combiner(model_dir) if has_combiner(model_dir) else None
    scorer, warm_logits = None, None
    if needs_cross_encoder(combiner):
        scorer = CrossEncoderScorer(model_dir, quantized=True, max_length=max_length, batch_size=batch_size)
        warm_logits = scorer.score_pairs(WARM_PAIRS)
    if combiner is not None:
        query = WARM_PAIRS[0][0]
        rows = feature_matrix(query, warm_candidates(), warm_logits if combiner.uses_cross_encoder else None)
        combiner.score(rows)
    return LoadedReranker(version=version, sha256=sha256, scorer=scorer, combiner=combiner)


def warm_candidates() -> list[Candidate]:
    return [
        Candidate(
            doc_id=f"warm.py:{i}",
            repo="warm",
            path=f"pkg/warm_{i}.py",
            start_line=1,
            end_line=2,
            language="python",
            chunk_kind="function",
            content_hash=f"warm-{i}",
            text=text,
            fusion_rank=i + 1,
            fusion_score=1 / (61 + i),
            bm25_rank=i + 1,
            bm25_score=1.0,
            vector_rank=i + 1,
            vector_score=0.5,
        )
        for i, (_, text) in enumerate(WARM_PAIRS)
    ]


def cross_encoder_scores(
    reranker: LoadedReranker, cache: ScoreCache, query: str, head: Sequence[tuple[str, str]]
) -> list[float]:
    """The cross-encoder's score of each (content hash, text), from the cache where it has one."""
    hashes = [content_hash for content_hash, _ in head]
    scores = cache.lookup(reranker.version, query, hashes)
    missing = [i for i, score in enumerate(scores) if score is None]
    if missing:
        if reranker.scorer is None:
            raise ValueError(f"{reranker.version}: its ranking needs the cross-encoder, which is not loaded")
        fresh = reranker.scorer.score(query, [head[i][1] for i in missing]).tolist()
        cache.store(reranker.version, query, [hashes[i] for i in missing], fresh)
        for i, score in zip(missing, fresh, strict=True):
            scores[i] = score
    return [float(score) for score in scores]  # type: ignore[arg-type]  # every None was filled


def rerank(
    reranker: LoadedReranker,
    cache: ScoreCache,
    query: str,
    candidates: Sequence[Candidate],
    top_n: int,
    times: list[tuple[str, float]] | None = None,
) -> list[tuple[int, float]]:
    """(position in `candidates`, shown score), best first; `candidates` in fusion order.

    Only the first `top_n` are reordered; the cross-encoder scores them only when the model uses
    it, and only those whose score for this model and query is not cached already. `times`, when
    given, gets the seconds of the stages that ran: ("cross_encoder", s), ("features", s).
    """
    combiner = reranker.combiner
    ce_scores = None
    if needs_cross_encoder(combiner):
        began = time.perf_counter()
        head = [(c.content_hash, c.text) for c in candidates[:top_n]]
        ce_scores = cross_encoder_scores(reranker, cache, query, head)
        if times is not None:
            times.append(("cross_encoder", time.perf_counter() - began))
    began = time.perf_counter()
    order = served_order(query, candidates, top_n, combiner=combiner, ce_scores=ce_scores)
    if times is not None and combiner is not None:
        times.append(("features", time.perf_counter() - began))
    return order
