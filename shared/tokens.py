"""Code-aware tokens for BM25: the same pipeline for documents and queries.

An identifier yields its stemmed parts (split on `_`, camelCase/PascalCase and digit boundaries)
and, when it has several parts, its whole lowercase form (underscores dropped) unstemmed:

    parseHTTPResponse -> parsehttpresponse, pars, http, respons
    validate_token    -> validatetoken, valid, token

so a question written in words ("where is the token validated") and one that names the
identifier (`validate_token`, `validateToken`) both match. Stop words of English and of code
(self, def, return, ...) and one-character tokens are dropped; repetition is kept, since term
frequency matters to BM25.
"""

from __future__ import annotations

import functools
import re

import Stemmer

MAX_WORD_CHARS = 64  # longer runs of word characters are data (hashes, base64), not identifiers

_WORD = re.compile(r"[^\W_]\w*|_+[^\W_]\w*")
_ASCII_PARTS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_OTHER_PARTS = re.compile(r"[^\W\d_]+|\d+")
_STEMMER = Stemmer.Stemmer("english")

ENGLISH_STOP_WORDS = frozenset([
    "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at",
    "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "could",
    "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has",
    "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if",
    "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my", "myself", "no", "nor",
    "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out",
    "over", "own", "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs",
    "them", "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too",
    "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who",
    "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself", "yourselves",
])  # fmt: skip
# Keywords nearly every file of some language repeats. Words that can carry meaning in a name
# (token, auth, user, request, end, final, package) stay: BM25's IDF weighs them.
CODE_STOP_WORDS = frozenset([
    "self", "cls", "def", "return", "import", "from", "as", "class", "async", "await", "lambda", "pass",
    "elif", "else", "none", "true", "false", "null", "nil", "undefined", "var", "let", "const", "function",
    "func", "fn", "this", "new", "yield", "del", "global", "nonlocal", "assert", "raise", "try", "except",
    "finally", "break", "continue", "public", "private", "protected", "static", "void", "extends",
    "implements", "instanceof", "typeof", "fi", "esac",
])  # fmt: skip
STOP_WORDS = ENGLISH_STOP_WORDS | CODE_STOP_WORDS


@functools.lru_cache(maxsize=1 << 18)
def _word_terms(word: str) -> tuple[tuple[str, bool], ...]:
    """Tokens of one identifier before stemming, each with whether it is to be stemmed."""
    parts = (_ASCII_PARTS if word.isascii() else _OTHER_PARTS).findall(word)
    terms: list[tuple[str, bool]] = []
    lowered = [part.lower() for part in parts]
    if len(parts) > 1:
        whole = "".join(lowered)
        if whole not in STOP_WORDS:
            terms.append((whole, False))
    for part in lowered:
        if len(part) > 1 and part not in STOP_WORDS:
            terms.append((part, not part.isdigit()))
    return tuple(terms)


@functools.lru_cache(maxsize=1 << 18)
def _word_tokens(word: str) -> tuple[str, ...]:
    """Tokens of one identifier (cached: a corpus repeats its identifiers endlessly)."""
    return tuple(_STEMMER.stemWord(term) if stem else term for term, stem in _word_terms(word))


def code_tokens(text: str) -> list[str]:
    """BM25 tokens of code or prose: stemmed identifier parts plus whole multi-part identifiers."""
    tokens: list[str] = []
    for word in _WORD.findall(text):
        if len(word) <= MAX_WORD_CHARS:
            tokens.extend(_word_tokens(word))
    return tokens


def query_tokens(query: str) -> list[str]:
    """Tokens of a search query: exactly `code_tokens`, so identifiers typed in a question match."""
    return code_tokens(query)


def query_terms(query: str) -> list[tuple[str, bool]]:
    """`query_tokens` before stemming: (lowercase token, whether it is stemmed), in the same order.

    For a search engine that stems with its own stemmer (OpenSearch's Snowball is not PyStemmer's
    version): it is sent the unstemmed parts, so a query stems exactly as that engine's index does.
    """
    terms: list[tuple[str, bool]] = []
    for word in _WORD.findall(query):
        if len(word) <= MAX_WORD_CHARS:
            terms.extend(_word_terms(word))
    return terms


def path_tokens(path: str) -> list[str]:
    """Tokens of a file path: split on / . _ - and camelCase, normalised like `code_tokens`.

    `services/search/chunking.py` -> servic, search, chunk, py
    """
    return code_tokens(path)
