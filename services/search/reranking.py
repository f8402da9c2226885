"""The reranker a replica serves: a cross-encoder whose ranking is blended with the fusion ranking.

The cross-encoder scores the first `top_n` fusion candidates (in length-sorted batches of
CODESIFT_RERANKER_BATCH_SIZE pairs, each padded to its longest; by default one pair at a time,
whose int8 score then never depends on its neighbours) and `shared.blend` fuses its ranking with
the fusion ranking by reciprocal rank, the same function the evaluator measures. A
`LoadedReranker` never changes after it is built: the replica swaps it by assigning one attribute,
and a request that already holds one finishes on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from services.search.score_cache import ScoreCache
from shared.blend import blend_with_scores
from shared.scoring import CrossEncoderScorer

BLEND = "fused-rank blend"
WARM_PAIRS = (  # run once before a new session serves: the first run pays for allocations
    ("where is the configuration loaded?", "def load_config(path):\n    return json.load(open(path))\n"),
    ("retry a failed request", "class Retry:\n    attempts = 3\n"),
)


@dataclass(frozen=True, slots=True)
class LoadedReranker:
    version: str
    sha256: str | None  # of the artifact archive in the object store; None for a local directory
    scorer: CrossEncoderScorer

    @property
    def label(self) -> str:
        """What search responses and impressions say about the ranking."""
        return f"{self.version} ({BLEND})"


def build_reranker(
    model_dir: Path, version: str, sha256: str | None, max_length: int | None = None, batch_size: int = 1
) -> LoadedReranker:
    """Open the int8 model of a verified directory and warm it; CPU work, call it from a thread."""
    scorer = CrossEncoderScorer(model_dir, quantized=True, max_length=max_length, batch_size=batch_size)
    scorer.score_pairs(WARM_PAIRS)
    return LoadedReranker(version=version, sha256=sha256, scorer=scorer)


def rerank(
    reranker: LoadedReranker,
    cache: ScoreCache,
    query: str,
    candidates: Sequence[tuple[str, str]],
    top_n: int,
) -> list[tuple[int, float]]:
    """(position in `candidates`, blended score), best first.

    candidates: (content hash, text) of each chunk, in fusion order. Only the first `top_n` are
    scored, and only those whose score for this model and query is not cached already.
    """
    head = candidates[:top_n]
    hashes = [content_hash for content_hash, _ in head]
    scores = cache.lookup(reranker.version, query, hashes)
    missing = [i for i, score in enumerate(scores) if score is None]
    if missing:
        fresh = reranker.scorer.score(query, [head[i][1] for i in missing])
        cache.store(reranker.version, query, [hashes[i] for i in missing], fresh.tolist())
        for i, score in zip(missing, fresh.tolist(), strict=True):
            scores[i] = score
    return blend_with_scores(range(len(candidates)), scores, top_n)
