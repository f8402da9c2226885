"""Where a user-given string becomes a filesystem path: the one checked join, and the rules around it.

Every path or name that arrives in a request, a command or a file (a model to evaluate, a golden
file, a doc id in feedback, an archive member) goes through here before anything is opened, so a
value that would leave its root is refused with the field to blame, never followed:

- `inside(root, value, field)`: root / value, links resolved, and still under root (an absolute
  value is taken as it is, and must lie under root too).
- `child(root, name, field)`: root / name for a name that must be one plain file name (a model
  version or a job id read from the bus, where anyone connected could have written it).
- `relative_problem(value)`: what is wrong with a path meant to stay relative (a doc id's path,
  an archive member): absolute, a `..` part, a NUL or another control character.
- `user_file(value, field, max_bytes)`: a file named on the machine that reads it (a golden file):
  absolute or relative to the working directory without `..`, a regular file (not a directory, a
  FIFO or /dev/zero), no bigger than `max_bytes`.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path, PurePosixPath

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class PathError(ValueError):
    """A path or name from a request that leaves its root or cannot name a file.

    `field` is the request field to blame; str() is "field: what is wrong".
    """

    def __init__(self, field: str, reason: str):
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def text_problem(value: str) -> str | None:
    """Why `value` cannot be a path at all (empty, a NUL or another control character), or None."""
    if not value.strip():
        return "is empty"
    if "\x00" in value:
        return "contains a NUL byte"
    if _CONTROL.search(value):
        return "contains a control character"
    return None


def relative_problem(value: str) -> str | None:
    """Why `value` cannot be a path relative to some root (absolute, `..`, NUL, control), or None."""
    problem = text_problem(value)
    if problem is not None:
        return problem
    path = PurePosixPath(value.replace("\\", "/"))
    if path.is_absolute() or re.match(r"^[A-Za-z]:[\\/]", value):  # POSIX, or a drive (C:\ or C:/)
        return "is an absolute path; a path relative to its root is expected"
    if ".." in path.parts:
        return "climbs out of its root with '..'"
    return None


def name_problem(value: str, max_length: int = 255) -> str | None:
    """Why `value` cannot be one file name in a directory (a version, a job id), or None.

    Refused: empty, `/` or `\\`, a leading dot (`.`, `..`, hidden and staging names), NUL or
    control characters, more than `max_length` characters.
    """
    problem = text_problem(value)
    if problem is not None:
        return problem
    if "/" in value or "\\" in value:
        return "contains a path separator; a plain name is expected"
    if value.startswith("."):
        return "starts with a dot; a plain name is expected"
    if len(value) > max_length:
        return f"is {len(value)} characters long, over {max_length}"
    return None


def child(root: Path, name: str, field: str) -> Path:
    """`root / name` for a plain name (`name_problem`); PathError naming `field` otherwise."""
    problem = name_problem(name)
    if problem is not None:
        raise PathError(field, f"{name!r} {problem}")
    return Path(root) / name


def inside(root: Path, value: str, field: str) -> Path:
    """`root / value` with every link resolved; PathError naming `field` unless it stays under root.

    `value` may be relative (read against root) or absolute (taken as it is); either way the
    resolved path must be root itself or below it. It need not exist.
    """
    problem = text_problem(value)
    if problem is not None:
        raise PathError(field, f"{value!r} {problem}")
    base = Path(root).resolve()
    path = (base / value).resolve()  # an absolute value replaces base
    if not path.is_relative_to(base):
        raise PathError(field, f"{value!r} leads outside {base}")
    return path


def user_path_problem(value: str) -> str | None:
    """Why `value` cannot name a file on the reader's machine (see `user_file`), before looking at it."""
    problem = text_problem(value)
    if problem is not None:
        return problem
    path = Path(value).expanduser()
    if not path.is_absolute() and ".." in path.parts:
        return "climbs out of the working directory with '..'; give an absolute path"
    return None


def user_file(value: str, field: str, *, max_bytes: int) -> Path:
    """A file named on the reader's machine, checked before it is read (see the module docstring)."""
    problem = user_path_problem(value)
    if problem is not None:
        raise PathError(field, f"{value!r} {problem}")
    path = Path(value).expanduser()
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise PathError(field, f"cannot read {path}: no such file") from None
    except OSError as exc:
        raise PathError(field, f"cannot read {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise PathError(field, f"{path} is not a regular file")
    if info.st_size > max_bytes:
        raise PathError(field, f"{path} is {info.st_size:,} bytes, over the limit of {max_bytes:,}")
    return path
