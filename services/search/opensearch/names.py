"""Index and alias names: one versioned index per repository, behind the repository's alias.

OpenSearch index names are lowercase, at most 255 bytes, contain none of `\\ / * ? " < > | , # :`
or a space, and do not start with `-`, `_` or `+`. A repository name becomes a safe slug plus
8 hex digits of its sha1, so `Acme` and `acme` (or `a/b` and `a-b`) never share an index:

    repository `acme`  -> alias `codesift-acme-4d2f...`  -> index `codesift-acme-4d2f...-v1718...`

Every versioned index also carries the read alias `<prefix>-all`, which searches every repository.
"""

from __future__ import annotations

import hashlib
import re
import time

MAX_SLUG = 100  # the slug part; a whole index name stays far below 255 bytes
_UNSAFE = re.compile(r"[^a-z0-9._-]+")
_VERSION = re.compile(r"-v\d+$")


class IndexNameError(ValueError):
    """A prefix OpenSearch would refuse as (the start of) an index name."""


def check_prefix(prefix: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,49}", prefix):
        raise IndexNameError(
            f"CODESIFT_OPENSEARCH_INDEX_PREFIX: {prefix!r} must be 1-50 of a-z 0-9 . _ - "
            "and start with a letter or digit"
        )
    return prefix


def slug(repo: str) -> str:
    """A readable, index-safe form of a repository name (not unique on its own)."""
    text = _UNSAFE.sub("-", repo.lower()).strip("-_+.")
    return text[:MAX_SLUG].rstrip("-_+.") or "repo"


def repo_alias(prefix: str, repo: str) -> str:
    digest = hashlib.sha1(repo.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{check_prefix(prefix)}-{slug(repo)}-{digest}"


def read_alias(prefix: str) -> str:
    """The alias over every repository's current index."""
    return f"{check_prefix(prefix)}-all"


def new_index_name(alias: str, now_ns: int | None = None) -> str:
    """A fresh versioned index behind `alias` (nanosecond stamp: two runs never collide)."""
    return f"{alias}-v{now_ns if now_ns is not None else time.time_ns()}"


def is_version_of(index: str, alias: str) -> bool:
    """Whether `index` is one of `alias`'s versioned indexes (and not another repository's)."""
    return index.startswith(alias) and _VERSION.fullmatch(index[len(alias) :]) is not None
