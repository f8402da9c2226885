"""Unpacking a tar archive from the object store: every member is checked before anything is written.

Model artifacts and index snapshots arrive as tar archives (`shared.artifacts`, the search index's
tar.gz). An archive is refused, with its name and the member at fault, when a member:

- has an absolute name or a `..` part, a NUL or another control character (`shared.paths`);
- is a symbolic or hard link, a device, a FIFO: anything but a regular file or a directory;
- brings the member count over CODESIFT_ARCHIVE_MAX_MEMBERS (10,000) or the total size its
  headers declare over CODESIFT_ARCHIVE_MAX_BYTES (2 GiB), so a gzip bomb is refused from its
  headers, before its data is inflated.

Only once every member passed is the archive extracted (with tarfile's "data" filter as a second
line), into a directory the caller then verifies and renames into place: a refused archive leaves
nothing behind and what was served before is untouched.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

from shared.paths import relative_problem
from shared.settings import settings

DEFAULT_MAX_BYTES = 2 << 30
DEFAULT_MAX_MEMBERS = 10_000


class ArchiveError(RuntimeError):
    """An archive refused before extraction; the message names the archive and the member."""


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    max_bytes: int = DEFAULT_MAX_BYTES  # sum of the members' declared sizes
    max_members: int = DEFAULT_MAX_MEMBERS

    @classmethod
    def from_env(cls) -> ArchiveLimits:
        """CODESIFT_ARCHIVE_MAX_BYTES and CODESIFT_ARCHIVE_MAX_MEMBERS (`shared.settings`)."""
        current = settings()
        return cls(max_bytes=current.archive_max_bytes, max_members=current.archive_max_members)


def checked_members(tar: tarfile.TarFile, name: str, limits: ArchiveLimits) -> list[tarfile.TarInfo]:
    """Every member of `tar`, read header by header; ArchiveError at the first one refused."""
    members: list[tarfile.TarInfo] = []
    total = 0
    for member in tar:
        if len(members) >= limits.max_members:
            raise ArchiveError(
                f"{name}: more than {limits.max_members:,} members (member {member.name!r}); refused"
            )
        reason = relative_problem(member.name)
        if reason is not None:
            raise ArchiveError(f"{name}: member {member.name!r} {reason}; refused")
        if member.issym() or member.islnk():
            raise ArchiveError(f"{name}: member {member.name!r} is a link (to {member.linkname!r}); refused")
        if not (member.isfile() or member.isdir()):
            raise ArchiveError(f"{name}: member {member.name!r} is a device or FIFO, not a file; refused")
        total += member.size
        if total > limits.max_bytes:
            raise ArchiveError(
                f"{name}: member {member.name!r} brings the archive to over {limits.max_bytes:,} bytes "
                "unpacked; refused"
            )
        members.append(member)
    return members


def extract(data: bytes, target: Path, name: str, limits: ArchiveLimits | None = None) -> None:
    """Extract the tar (plain or compressed) `data` into the directory `target`, every member checked.

    Raises ArchiveError (named after `name`, the version or snapshot) before writing anything
    when a member is refused; tarfile.TarError when the bytes are not a tar archive.
    """
    limits = limits or ArchiveLimits.from_env()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        members = checked_members(tar, name, limits)
        tar.extractall(target, members=members, filter="data")
