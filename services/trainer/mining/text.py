"""Text rules every miner shares: normalised queries, word tokens, similarity, stable hashes.

`normalise` decides which queries are "the same" (grouping, dedupe, the golden split and the
firewall). It and `stable_hash` live in `shared.golden`, because the evaluator splits the golden
questions with the very same rule; changing it moves questions between the train and eval sides
of a recorded split.
"""

from __future__ import annotations

import re
import unicodedata

import Stemmer

from shared.golden import normalise as normalise
from shared.golden import stable_hash as stable_hash

_WORD = re.compile(r"[^\W_]+")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_STEMMER = Stemmer.Stemmer("english")

STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "how", "i", "if",
    "in", "into", "is", "it", "its", "of", "on", "or", "that", "the", "this", "to", "was", "what",
    "when", "where", "which", "who", "why", "will", "with", "do", "does", "can", "should", "would",
    "my", "me", "we", "you", "your", "our", "there", "their", "them", "they", "these", "those",
    "than", "then", "so", "not", "no"
})  # fmt: skip


def split_identifier(name: str) -> list[str]:
    """Lower-case words of an identifier: "parseHTTPResponse" -> parse, http, response."""
    parts: list[str] = []
    for word in _WORD.findall(name):
        parts.extend(_CAMEL.findall(word) if word.isascii() else [word])
    return [part.casefold() for part in parts]


def words(text: str) -> list[str]:
    """Lower-case words of prose or code, identifiers split into their parts."""
    return split_identifier(unicodedata.normalize("NFKC", text))


def content_words(text: str) -> list[str]:
    """`words` without stop words and single characters."""
    return [w for w in words(text) if len(w) > 1 and w not in STOPWORDS]


def stems(tokens: list[str]) -> set[str]:
    return set(_STEMMER.stemWords(tokens))


def trigrams(text: str) -> set[str]:
    """Character 3-grams of a normalised text, word edges included (" ab", "abc", "bc ")."""
    padded = f" {text} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0
