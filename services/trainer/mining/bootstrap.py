"""Mining the repository itself, for an install with no feedback yet: documentation -> code.

For each function, method and class chunk of a source file (tests, docs, examples, changelogs,
config and generated files are left out unless include="all"), the query is the first of:

1. the summary of its docstring (`/** */` and `///` blocks count as docstrings),
2. the summary of the comment right above it,
3. its name split into words ("parse_http_response" -> "parse http response"), only when the
   chunk has no documentation at all, the name has at least three content words and
   `from_names` is on (such a query restates the name by construction: it teaches lexical
   matching that BM25 already does, so it is a last resort).

A documentation query that is short, boilerplate or merely restates the qualified name is not
used, and a chunk whose documentation is all unusable gives no pair (its name would restate it).
The positive is the chunk with the documentation that became the query cut out, so the pair is
not matched by copying; a stub left with no code gives no pair. Pairs repeating a query or a
positive already taken (in path order) are dropped.

At most `max_pairs` pairs are kept: a seeded, deterministic sample spread across files (files
shuffled, then one pair per file in turn). Each kept query goes to `candidates` (retrieval
without the reranker); its hard negatives are the best-ranked candidates from other files, with
a text other than the positive's.

Skip reasons in the stats: not_definition, excluded_<file kind>, no_query, short_query,
boilerplate, restates_name, stub, duplicate_query, duplicate_positive, over_max_pairs.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from services.trainer.mining.documentation import cut, find_documentation
from services.trainer.mining.golden import CandidateSearch
from services.trainer.mining.queries import name_query, query_problem, summary
from services.trainer.mining.stats import MiningStats
from services.trainer.mining.text import normalise
from shared.filekinds import file_kind
from shared.schemas import ChunkRecord, Triplet

DEFINITION_KINDS = frozenset({"function", "method", "class"})

# Sized so that the default run trains in about ten minutes on 2 cores: fine-tuning the MiniLM
# cross-encoder was measured at ~3.4 pairs/s (BCE, batch 16, max length 256), and each query
# gives 1 + DEFAULT_NEGATIVES scored pairs: 600 s * 3.4 / (1 + 4) = 408 queries.
TRAIN_SECONDS = 600
MEASURED_PAIRS_PER_SECOND = 3.4
DEFAULT_NEGATIVES = 4
DEFAULT_MAX_PAIRS = int(TRAIN_SECONDS * MEASURED_PAIRS_PER_SECOND / (1 + DEFAULT_NEGATIVES))
DEFAULT_K = 20

Include = Literal["source", "all"]


@dataclass(frozen=True, slots=True)
class _Pair:
    chunk: ChunkRecord
    query: str
    origin: str  # docstring | comment | name
    positive_text: str


def mine_bootstrap(
    chunks: Iterable[ChunkRecord],
    candidates: CandidateSearch,
    *,
    max_pairs: int = DEFAULT_MAX_PAIRS,
    negatives: int = DEFAULT_NEGATIVES,
    k: int = DEFAULT_K,
    seed: int = 0,
    include: Include = "source",
    from_names: bool = True,
) -> tuple[list[Triplet], MiningStats]:
    """Triplets mined from a repository's chunks (see the module docstring), in sampled order."""
    stats = MiningStats("bootstrap")
    by_file: dict[tuple[str, str], list[_Pair]] = {}
    seen_queries: set[tuple[str, str]] = set()
    seen_positives: set[tuple[str, str]] = set()
    for chunk in sorted(chunks, key=lambda c: (c.repo, c.path, c.start_line, c.end_line)):
        stats.read += 1
        pair = _pair(chunk, include, from_names)
        if isinstance(pair, str):
            stats.skipped[pair] += 1
        elif (chunk.repo, normalise(pair.query)) in seen_queries:
            stats.skipped["duplicate_query"] += 1
        elif (chunk.repo, pair.positive_text.strip()) in seen_positives:
            stats.skipped["duplicate_positive"] += 1
        else:
            seen_queries.add((chunk.repo, normalise(pair.query)))
            seen_positives.add((chunk.repo, pair.positive_text.strip()))
            by_file.setdefault((chunk.repo, chunk.path), []).append(pair)

    chosen = _sample(by_file, max_pairs, seed)
    eligible = sum(len(pairs) for pairs in by_file.values())
    if eligible > len(chosen):
        stats.skipped["over_max_pairs"] += eligible - len(chosen)

    triplets = []
    for pair in chosen:
        ranked = sorted(candidates(pair.query, pair.chunk.repo, k), key=lambda c: c.fusion_rank)
        own_text = pair.chunk.text.strip()
        hard = [c for c in ranked if c.path != pair.chunk.path and c.text.strip() != own_text][:negatives]
        triplets.append(
            Triplet(
                query=pair.query,
                positive_text=pair.positive_text,
                positive_doc_id=pair.chunk.doc_id,
                negative_texts=[c.text for c in hard],
                negative_doc_ids=[c.doc_id for c in hard],
                source="bootstrap",
                repo=pair.chunk.repo,
                positive_symbol=pair.chunk.symbol,
                negative_symbols=[c.symbol for c in hard] if any(c.symbol for c in hard) else [],
            )
        )
        stats.origins[pair.origin] += 1
    stats.queries = stats.triplets = len(triplets)
    stats.without_negatives = sum(1 for t in triplets if not t.negative_doc_ids)
    return triplets, stats


def _pair(chunk: ChunkRecord, include: Include, from_names: bool) -> _Pair | str:
    """The chunk's query and positive, or why it gives none."""
    if chunk.chunk_kind not in DEFINITION_KINDS:
        return "not_definition"
    kind = file_kind(chunk.path)
    if include == "source" and kind != "source":
        return f"excluded_{kind}"
    found = find_documentation(chunk.text, chunk.language)
    problems = []
    for documentation in found:
        query = summary(documentation.prose)
        problem = query_problem(query, chunk.symbol)
        if problem is None:
            positive = cut(chunk.text, documentation).strip("\n")
            return _checked(_Pair(chunk, query, documentation.origin, positive))
        problems.append(problem)
    if problems:
        return problems[0]
    name = chunk.symbol.rsplit(".", 1)[-1]
    if not (from_names and name and name in chunk.text):  # not named, or a later window of a long one
        return "no_query"
    query = name_query(name)
    return "no_query" if query is None else _checked(_Pair(chunk, query, "name", chunk.text))


def _checked(pair: _Pair) -> _Pair | str:
    """The pair, or "stub" when its positive has fewer than two lines of code left."""
    code = [line.strip() for line in pair.positive_text.split("\n")]
    real = [
        line for line in code if line and line not in _NOT_CODE and not line.startswith(_NOT_CODE_PREFIXES)
    ]
    return pair if len(real) >= 2 else "stub"


_NOT_CODE = frozenset({"pass", "...", "{", "}", "};", "})", "});", "end"})
_NOT_CODE_PREFIXES = ("#", "//", "@", "raise NotImplementedError", "throw new UnsupportedOperationException")


def _sample(by_file: dict[tuple[str, str], list[_Pair]], limit: int, seed: int) -> list[_Pair]:
    """Up to `limit` pairs, one file at a time in a seeded order, so that they spread across files."""
    rng = random.Random(seed)
    files = sorted(by_file)
    rng.shuffle(files)
    queues = []
    for name in files:
        pairs = list(by_file[name])
        rng.shuffle(pairs)
        queues.append(deque(pairs))
    chosen: list[_Pair] = []
    while queues and len(chosen) < limit:
        for queue in queues:
            if len(chosen) == limit:
                break
            chosen.append(queue.popleft())
        queues = [q for q in queues if q]
    return chosen
