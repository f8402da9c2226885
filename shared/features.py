"""What the learned ranker knows about a candidate: one row of FEATURES per retrieved chunk.

Search replicas (serving), the trainer (learning) and the evaluator (measuring) all build rows
here, from the same `Candidate` fields, so a ranker is scored on exactly what it was trained on.
A row describes a candidate within its group (the fusion candidates of one query):

- retrieval: fusion rank and score, BM25 score, vector cosine, each also relative to the best of
  the group (a score means little across queries; its distance to the group's best does);
- cross-encoder: its logit, distance to the group's best logit and rank (zeros without one);
- the file: its kind from path and content (`Candidate.file_kind`, judged by the index on the
  whole file; else on the chunk, by `shared.filekinds`), the chunk's kind, a coarse
  language group, path depth, line and character counts;
- the query against the chunk: the share of query tokens found in its path, in its identifiers
  and in its symbol (code-aware tokens of `shared.tokens`, stemmed as BM25 indexes them);
- the query alone (`query_profile`): its form (how / where / why / what / imperative, by its
  first word), whether it names an identifier (snake_case, camelCase, a dotted name or a call),
  its length, and whether it asks for tests, examples or usage, or docs;
- the file's consensus in the group: how many of the group's candidates come from the
  candidate's file and from its folder, the file's best fusion rank, whether the candidate is its
  file's best, and the file's summed fusion score relative to the group's best file (a file that
  several retrieved chunks point at is likelier to answer than one chunk on its own);
- crosses: every binary query indicator times every file kind (`query_how_x_file_test`, ...),
  all of them, none picked by hand. Query columns are constant within a group, so a ranker can
  only use them with the candidate's kind: trees split on both, a linear model needs the product.

Nothing here prefers a kind of file or chunk: which one a team wants is what a ranker learns.
A chunk's own part of the row depends only on the chunk and is cached, as is a query's.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from shared.filekinds import FILE_KINDS, file_kind
from shared.schemas import Candidate
from shared.tokens import code_tokens, path_tokens, query_tokens

CHUNK_KINDS = ("function", "class", "method", "module", "doc_section", "window")
LANGUAGE_GROUPS = {
    "python": "python",
    "javascript": "javascript",
    "typescript": "javascript",
    "markdown": "prose",
    "rst": "prose",
    "text": "prose",
    "yaml": "config",
    "toml": "config",
    "json": "config",
    "ini": "config",
}
LANGUAGES = ("python", "javascript", "prose", "config", "other")

RETRIEVAL = (
    "fusion_rank_log", "fusion_score_rel", "bm25_score", "bm25_rel", "bm25_missing",
    "vector_cosine", "vector_gap", "vector_missing",
)  # fmt: skip
CROSS_ENCODER = ("ce_logit", "ce_gap", "ce_rank_log")
CHUNK = (
    *(f"file_{kind}" for kind in FILE_KINDS),
    *(f"chunk_{kind}" for kind in CHUNK_KINDS),
    *(f"lang_{language}" for language in LANGUAGES),
    "path_depth",
    "lines_log",
    "chars_log",
)
OVERLAP = ("query_path_overlap", "query_identifier_overlap", "query_symbol_overlap")
QUESTION_FORMS = ("how", "where", "why", "what", "imperative")
# The words a query asks for a kind of answer with (lowercased whole words, not stemmed).
WANTS = {
    "tests": frozenset(
        {"test", "tests", "tested", "testing", "unittest", "unittests", "pytest", "spec", "specs"}
    ),
    "examples": frozenset({"example", "examples", "usage", "sample", "samples", "demo", "demos", "snippet"}),
    "docs": frozenset(
        {"doc", "docs", "documentation", "documented", "readme", "guide", "manual", "tutorial"}
    ),
}
INDICATORS = (
    *(f"query_{form}" for form in QUESTION_FORMS),
    "query_identifier",
    *(f"query_wants_{kind}" for kind in WANTS),
)
QUERY = (*INDICATORS, "query_terms_log")
CROSSES = tuple(f"{indicator}_x_file_{kind}" for indicator in INDICATORS for kind in FILE_KINDS)
CONSENSUS = (
    "same_file_candidates_log", "same_dir_candidates_log", "same_file_best_rank_log", "same_file_first",
    "same_file_score_rel",
)  # fmt: skip
FEATURES: tuple[str, ...] = RETRIEVAL + CROSS_ENCODER + CHUNK + OVERLAP + QUERY + CROSSES + CONSENSUS
INDEX = {name: i for i, name in enumerate(FEATURES)}
CE_COLUMNS = tuple(INDEX[name] for name in CROSS_ENCODER)

_RETRIEVAL_END = len(RETRIEVAL)
_CE_END = _RETRIEVAL_END + len(CROSS_ENCODER)
_CHUNK_END = _CE_END + len(CHUNK)
_QUERY_START = _CHUNK_END + len(OVERLAP)
_CROSS_START = _QUERY_START + len(QUERY)
_CONSENSUS_START = _CROSS_START + len(CROSSES)
_FILE_KIND_COLUMNS = slice(_CE_END, _CE_END + len(FILE_KINDS))

# First words of each form (the rest of the query does not change its form).
_FORM_WORDS = {
    "how": {"how", "hows"},
    "where": {"where", "wheres"},
    "why": {"why", "whys"},
    "what": {"what", "whats", "which", "who"},
    "imperative": {
        "find", "show", "list", "give", "get", "explain", "describe", "locate", "tell", "point", "open",
        "search", "look", "fetch", "display", "return", "print", "use", "call", "implement", "write",
        "create", "make", "add", "define", "compute", "calculate", "check", "handle", "convert",
    },
}  # fmt: skip
_QUERY_WORD = re.compile(r"[a-z]+")
_IDENTIFIER = re.compile(r"[A-Za-z0-9]_[A-Za-z0-9]|[a-z0-9][A-Z]|[A-Za-z_]\w*\.[A-Za-z_]\w*|\w\(")


Tokens = tuple[str, ...]


class FeatureError(ValueError):
    """Cross-encoder logits that do not match the candidates."""


def feature_matrix(
    query: str, candidates: Sequence[Candidate], ce_logits: Sequence[float] | np.ndarray | None = None
) -> np.ndarray:
    """float32 (len(candidates), len(FEATURES)); candidates in fusion order, logits aligned to them."""
    n = len(candidates)
    rows = np.zeros((n, len(FEATURES)), dtype=np.float32)
    if n == 0:
        return rows
    _retrieval(rows, candidates)
    if ce_logits is not None:
        _cross_encoder(rows, ce_logits, n)
    terms = frozenset(query_tokens(query))
    for row, candidate in zip(rows, candidates, strict=True):
        static, path_terms, identifier_terms, symbol_terms = _profile(candidate)
        row[_CE_END:_CHUNK_END] = static
        if terms:
            row[_CHUNK_END] = len(terms.intersection(path_terms)) / len(terms)
            row[_CHUNK_END + 1] = len(terms.intersection(identifier_terms)) / len(terms)
            row[_CHUNK_END + 2] = len(terms.intersection(symbol_terms)) / len(terms)
    asked = query_profile(query)
    rows[:, _QUERY_START:_CROSS_START] = asked
    indicators = asked[: len(INDICATORS)]
    kinds = rows[:, _FILE_KIND_COLUMNS]
    rows[:, _CROSS_START:_CONSENSUS_START] = (indicators[None, :, None] * kinds[:, None, :]).reshape(n, -1)
    _consensus(rows, candidates)
    return rows


@functools.lru_cache(maxsize=4096)
def query_profile(query: str) -> np.ndarray:
    """The query's own columns (QUERY): form, identifier, what it asks for, log(1 + its terms)."""
    profile = np.zeros(len(QUERY), dtype=np.float32)
    words = _QUERY_WORD.findall(query.lower().replace("'", ""))
    if words:
        for i, form in enumerate(QUESTION_FORMS):
            if words[0] in _FORM_WORDS[form]:
                profile[i] = 1.0
    offset = len(QUESTION_FORMS)
    profile[offset] = _IDENTIFIER.search(query) is not None
    present = set(words)
    for i, wanted in enumerate(WANTS.values(), start=offset + 1):
        profile[i] = not present.isdisjoint(wanted)
    profile[len(INDICATORS)] = math.log1p(len(query_tokens(query)))
    profile.flags.writeable = False
    return profile


def _retrieval(rows: np.ndarray, candidates: Sequence[Candidate]) -> None:
    fusion = np.array([c.fusion_score for c in candidates], dtype=np.float64)
    bm25 = np.array([c.bm25_score for c in candidates], dtype=np.float64)
    cosine = np.array([c.vector_score for c in candidates], dtype=np.float64)
    rows[:, 0] = np.log([max(c.fusion_rank, 1) for c in candidates])
    rows[:, 1] = fusion / fusion.max() if fusion.max() > 0 else 0.0
    rows[:, 2] = bm25
    rows[:, 3] = bm25 / bm25.max() if bm25.max() > 0 else 0.0
    rows[:, 4] = [c.bm25_rank is None for c in candidates]
    rows[:, 5] = cosine
    rows[:, 6] = cosine - cosine.max()
    rows[:, 7] = [c.vector_rank is None for c in candidates]


def _consensus(rows: np.ndarray, candidates: Sequence[Candidate]) -> None:
    """CONSENSUS: each candidate's file and folder among the group's candidates."""
    files: dict[str, list[int]] = {}
    folders: Counter[str] = Counter()
    for i, candidate in enumerate(candidates):
        files.setdefault(candidate.path, []).append(i)
        folders[candidate.path.rpartition("/")[0]] += 1
    sums = {path: sum(candidates[i].fusion_score for i in members) for path, members in files.items()}
    best_sum = max(sums.values())
    for path, members in files.items():
        best = min(members, key=lambda i: (candidates[i].fusion_rank, i))
        shared = (
            math.log1p(len(members)),
            math.log1p(folders[path.rpartition("/")[0]]),
            math.log(max(candidates[best].fusion_rank, 1)),
        )
        for i in members:
            rows[i, _CONSENSUS_START:] = (*shared, i == best, sums[path] / best_sum if best_sum > 0 else 0.0)


def _cross_encoder(rows: np.ndarray, ce_logits: Sequence[float] | np.ndarray, n: int) -> None:
    logits = np.asarray(ce_logits, dtype=np.float64).reshape(-1)
    if len(logits) != n:
        raise FeatureError(f"ce_logits: {len(logits)} logits for {n} candidates")
    if not np.all(np.isfinite(logits)):
        raise FeatureError("ce_logits: not finite")
    order = sorted(range(n), key=lambda i: (-logits[i], i))  # ties: the better fusion rank
    rank = np.empty(n)
    rank[order] = np.arange(1, n + 1)
    rows[:, _RETRIEVAL_END] = logits
    rows[:, _RETRIEVAL_END + 1] = logits - logits.max()
    rows[:, _RETRIEVAL_END + 2] = np.log(rank)


PROFILE_CACHE = 1 << 16  # chunks whose profile is kept (~1 KB each)


def warm(candidates: Iterable[Candidate]) -> int:
    """Compute the chunk profiles of `candidates` ahead of queries (a replica does it for a new index,
    in a thread: a chunk seen the first time costs ~70 µs, then ~4 µs). Returns how many were warmed."""
    count = 0
    for candidate in candidates:
        if count >= PROFILE_CACHE:
            break
        _profile(candidate)
        count += 1
    return count


def _profile(candidate: Candidate) -> tuple[np.ndarray, Tokens, Tokens, Tokens]:
    return chunk_profile(
        candidate.path, candidate.content_hash, candidate.language, candidate.chunk_kind,
        candidate.symbol, candidate.file_kind, candidate.text,
    )  # fmt: skip


@functools.lru_cache(maxsize=PROFILE_CACHE)
def chunk_profile(
    path: str, content_hash: str, language: str, chunk_kind: str, symbol: str, kind_of_file: str, text: str
) -> tuple[np.ndarray, Tokens, Tokens, Tokens]:
    """The query-independent part of a chunk's row, and its path, identifier and symbol tokens.

    kind_of_file: as the index judged it on the whole file; "" to judge it here on the chunk alone.
    """
    static = np.zeros(len(CHUNK), dtype=np.float32)
    kind = kind_of_file if kind_of_file in FILE_KINDS else file_kind(path, text)
    static[FILE_KINDS.index(kind)] = 1.0
    offset = len(FILE_KINDS)
    if chunk_kind in CHUNK_KINDS:
        static[offset + CHUNK_KINDS.index(chunk_kind)] = 1.0
    offset += len(CHUNK_KINDS)
    static[offset + LANGUAGES.index(LANGUAGE_GROUPS.get(language, "other"))] = 1.0
    offset += len(LANGUAGES)
    static[offset] = path.count("/")
    static[offset + 1] = math.log1p(text.count("\n") + 1)
    static[offset + 2] = math.log1p(len(text))
    return static, _distinct(path_tokens(path)), _distinct(code_tokens(text)), _distinct(code_tokens(symbol))


def _distinct(tokens: list[str]) -> Tokens:
    """Each token once, as a tuple: a third of a frozenset's memory, and a query has few terms to look up."""
    return tuple(dict.fromkeys(tokens))
