"""What names a chunk's text across edits: its content hash and a short fingerprint of its lines.

The search service stamps both on what it shows (impressions), telemetry copies them into the
feedback log, and the trainer uses them to find a label's chunk again after a re-index
(services/trainer/mining/reattach.py). The fingerprint is a bottom-k sketch of the set of the
text's stripped, non-blank lines: the FINGERPRINT_LINES smallest 32-bit line hashes, as hex.
Two fingerprints estimate the Jaccard similarity of the two line sets; exactly when both texts
have at most FINGERPRINT_LINES distinct lines.
"""

from __future__ import annotations

import hashlib

FINGERPRINT_LINES = 16
_WIDTH = 8  # hex digits per line hash


def content_hash(text: str) -> str:
    """sha1 of the chunk's text: equal texts, equal hashes, wherever the chunk now lies."""
    return hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()


def line_hashes(text: str) -> set[int]:
    """32-bit hashes of the text's distinct stripped, non-blank lines (indentation ignored)."""
    return {
        int.from_bytes(hashlib.blake2b(s.encode("utf-8", "replace"), digest_size=4).digest(), "big")
        for line in text.splitlines()
        if (s := line.strip())
    }


def fingerprint(text: str) -> str:
    """The text's line sketch: at most FINGERPRINT_LINES * 8 hex digits ("" for a blank text)."""
    return "".join(f"{h:08x}" for h in sorted(line_hashes(text))[:FINGERPRINT_LINES])


def sketch(fingerprint_text: str) -> set[int]:
    """The line hashes a fingerprint holds (a malformed one holds none)."""
    try:
        return {
            int(fingerprint_text[i : i + _WIDTH], 16)
            for i in range(0, len(fingerprint_text) - _WIDTH + 1, _WIDTH)
        }
    except ValueError:
        return set()


def similarity(a: set[int], b: set[int]) -> float:
    """Estimated Jaccard similarity of two line sets from their sketches (0 when either is empty).

    Over the FINGERPRINT_LINES smallest hashes of the union, the share found in both: each of
    those is in a sketch exactly when it is in that sketch's full set.
    """
    if not a or not b:
        return 0.0
    smallest = sorted(a | b)[:FINGERPRINT_LINES]
    return sum(1 for h in smallest if h in a and h in b) / len(smallest)
