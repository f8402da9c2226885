"""Golden questions: reading a golden file, and the stable split into train and eval sides.

The trainer mines only the train side; the evaluator scores the eval side. Both take the split
from here, so a question is never trained on and then evaluated.

The split hashes each question's normalised text with sha1 and a salt: a question is on the
eval side when its hash, read as a fraction of 2**60, is below `eval_fraction`. The side of a
question depends on nothing else, so it is the same on every run and machine, whatever the order
of the file, and adding questions never moves existing ones. The fraction is therefore
expected, not exact (a small set can even leave a side empty). Equal questions of different
repos share a side.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import msgspec

from shared.paths import PathError, user_file
from shared.schemas import GoldenQuestion

DEFAULT_EVAL_FRACTION = 0.3
DEFAULT_SALT = "codesift"
_HASH_DIGITS = 15  # 60 bits of the sha1, plenty for a fraction
MAX_GOLDEN_BYTES = 64 << 20  # ~300,000 questions; a bigger "golden file" is a mistake or an attack
_WORD = re.compile(r"[^\W_]+")


class GoldenError(ValueError):
    """A golden file that cannot be read or is not a list of golden questions."""


def normalise(text: str) -> str:
    """The comparable form of a query: "Where is  the OAuth token?" -> "where is the oauth token".

    Unicode NFKC, case folded, every run of non-word characters one space. Changing it moves
    questions between the train and eval sides of a recorded split.
    """
    return " ".join(_WORD.findall(unicodedata.normalize("NFKC", text).casefold()))


def stable_hash(text: str, salt: str) -> str:
    """sha1 hex of the salt and the normalised text (the same on every machine and run)."""
    return hashlib.sha1(f"{salt}\x00{normalise(text)}".encode()).hexdigest()


def is_eval(question: str, eval_fraction: float = DEFAULT_EVAL_FRACTION, salt: str = DEFAULT_SALT) -> bool:
    return int(stable_hash(question, salt)[:_HASH_DIGITS], 16) < eval_fraction * 16**_HASH_DIGITS


def split_golden(
    questions: Iterable[GoldenQuestion],
    eval_fraction: float = DEFAULT_EVAL_FRACTION,
    salt: str = DEFAULT_SALT,
) -> tuple[list[GoldenQuestion], list[GoldenQuestion]]:
    """(train, eval), each in the input order."""
    train: list[GoldenQuestion] = []
    held_out: list[GoldenQuestion] = []
    for question in questions:
        (held_out if is_eval(question.q, eval_fraction, salt) else train).append(question)
    return train, held_out


def golden_file(value: str | Path) -> Path:
    """The golden file `value` names, checked before it is read (`shared.paths.user_file`).

    A regular file of at most MAX_GOLDEN_BYTES, absolute or relative to the working directory
    without `..`; a NUL byte, a directory, a FIFO or a device is refused with GoldenError.
    """
    try:
        return user_file(str(value), "golden", max_bytes=MAX_GOLDEN_BYTES)
    except PathError as exc:
        raise GoldenError(str(exc)) from None


def read_golden(path: Path) -> list[GoldenQuestion]:
    """The questions of a golden file (`[{"q", "repo", "expect_paths"}, ...]`); GoldenError if unreadable."""
    path = golden_file(path)
    try:
        return msgspec.json.decode(path.read_bytes(), type=list[GoldenQuestion])
    except OSError as exc:
        raise GoldenError(f"golden: cannot read {path}: {exc.strerror}") from None
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError
        raise GoldenError(f"golden: {path}: {exc}") from None
