"""Query groups for the learned ranker: the stored triplets joined to the fusion candidates of their queries.

One group per (repo, normalised query). Its positives are the `positive_doc_id`s of the query's
triplets (logs, golden, bootstrap alike); its candidates are the fusion top N the search service
returns for the query (`codesift.search.candidates`: retrieval without the reranker), exactly
the candidates a replica would score. Each candidate is labelled:

- 1: a positive;
- 0: any other candidate (an explicit negative, a skipped result, or one nobody judged);
- unjudged (-1): another chunk of a positive's file that no triplet calls a negative. Whether it
  would have answered too is unknown (a golden question accepts any chunk of its file; a click
  says nothing about its neighbours), so it is neither taught nor scored. Its row still counts
  for the features of the others (scores relative to the group's best).

A group with no positive among its candidates is dropped and counted (its positive sits below
the top N: the ranker never sees it there either). The group's source is the strongest evidence
it rests on: logs (what users did), then golden, then bootstrap. Its family says who wrote the
query: people (logs, golden) or the code itself (bootstrap: documentation turned into queries,
which find their own chunk far more easily than people's questions do). Fitting and choosing
weigh the two families the same in total, whatever their sizes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from shared.features import feature_matrix
from shared.golden import normalise
from shared.schemas import Candidate, Triplet

CandidateSearch = Callable[[str, str | None, int], list[Candidate]]  # (query, repo, k) -> fusion order
SOURCE_PRIORITY = ("logs", "golden", "bootstrap")
FAMILIES = {"logs": "people", "golden": "people", "bootstrap": "code"}
POSITIVE, NEGATIVE, UNJUDGED = 1, 0, -1


@dataclass(frozen=True)
class Group:
    """One query's candidates in fusion order, their labels and feature rows (no cross-encoder)."""

    query: str
    repo: str | None
    source: str
    candidates: list[Candidate]
    labels: np.ndarray  # int8: POSITIVE, NEGATIVE or UNJUDGED per candidate
    rows: np.ndarray  # float32 (len(candidates), len(FEATURES)), cross-encoder columns zero

    @property
    def key(self) -> str:
        return normalise(self.query)

    @property
    def judged(self) -> np.ndarray:
        return self.labels != UNJUDGED

    @property
    def family(self) -> str:
        return FAMILIES.get(self.source, self.source)


SourceWeights = Mapping[str, float]  # source -> weight relative to feedback (absent: 1)


def family_weights(groups: Sequence[Group], source_weights: SourceWeights | None = None) -> np.ndarray:
    """One weight per group: each family weighs the same in total, then each source's groups are
    multiplied by its weight (`source_weights`, e.g. bootstrap 0.3: documentation pairs count 0.3
    of what feedback counts); mean 1."""
    sizes = Counter(g.family for g in groups)
    weights = np.array([len(groups) / len(sizes) / sizes[g.family] for g in groups])
    if source_weights:
        weights *= np.array([float(source_weights.get(g.source, 1.0)) for g in groups])
        weights *= len(groups) / weights.sum() if weights.sum() > 0 else 1.0
    return weights


@dataclass
class GroupStats:
    queries: int = 0  # distinct (repo, query) among the triplets
    groups: Counter[str] = field(default_factory=Counter)  # kept, by source
    dropped: Counter[str] = field(default_factory=Counter)  # reason -> queries

    def as_dict(self) -> dict[str, object]:
        return {"queries": self.queries, "groups": dict(self.groups), "dropped": dict(self.dropped)}


def build_groups(
    triplets: Iterable[Triplet],
    search: CandidateSearch,
    top_n: int,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[Group], GroupStats]:
    """The groups of the triplets' queries, in first-seen order; `search` errors propagate."""
    gathered: dict[tuple[str | None, str], list[Triplet]] = {}
    for triplet in triplets:
        if triplet.query.strip():
            gathered.setdefault((triplet.repo, normalise(triplet.query)), []).append(triplet)
    stats = GroupStats(queries=len(gathered))
    groups: list[Group] = []
    for done, ((repo, _), found) in enumerate(gathered.items()):
        if progress is not None:
            progress(done, len(gathered))
        group = _group(found, search(found[0].query, repo, top_n)[:top_n], repo)
        if group is None:
            stats.dropped["no_positive_in_top_n"] += 1
            continue
        stats.groups[group.source] += 1
        groups.append(group)
    return groups, stats


def _group(triplets: list[Triplet], candidates: list[Candidate], repo: str | None) -> Group | None:
    candidates = sorted(candidates, key=lambda c: c.fusion_rank)
    positives = {t.positive_doc_id for t in triplets}
    negatives = {d for t in triplets for d in t.negative_doc_ids} - positives
    positive_paths = {c.path for c in candidates if c.doc_id in positives}
    if not positive_paths:
        return None
    labels = np.array(
        [
            POSITIVE
            if c.doc_id in positives
            else UNJUDGED
            if c.path in positive_paths and c.doc_id not in negatives
            else NEGATIVE
            for c in candidates
        ],
        dtype=np.int8,
    )
    source = min((t.source for t in triplets), key=_priority)
    query = triplets[0].query.strip()
    return Group(query, repo, source, candidates, labels, feature_matrix(query, candidates))


def _priority(source: str) -> int:
    return SOURCE_PRIORITY.index(source) if source in SOURCE_PRIORITY else len(SOURCE_PRIORITY)
