"""Unpacking a tar archive from the object store: every member is checked before it is written.

Model artifacts and index snapshots arrive as tar archives (`shared.artifacts`, the search index's
tar.gz). An archive is refused, with its name and the member at fault, when a member:

- has an absolute name or a `..` part, a NUL or another control character (`shared.paths`);
- is a symbolic or hard link, a device, a FIFO: anything but a regular file or a directory;
- brings the member count over CODESIFT_ARCHIVE_MAX_MEMBERS (10,000) or the total size its
  headers declare over CODESIFT_ARCHIVE_MAX_BYTES (2 GiB), so a gzip bomb is refused from its
  headers, before its data is inflated.

Each member is extracted only once it passed (with tarfile's "data" filter as a second line), into
a staging directory the caller then verifies and renames into place, or removes when a member is
refused: a refused archive leaves nothing behind and what was served before is untouched.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from nats.js.object_store import ObjectStore

from shared.paths import relative_problem
from shared.settings import settings

DEFAULT_MAX_BYTES = 2 << 30
DEFAULT_MAX_MEMBERS = 10_000
HEADER_BYTES = 2048  # a member's own headers and padding beyond its data: a header block, a PAX one
END_BYTES = 20 * 512  # the end-of-archive blocks, padded to a record
STREAM_BUFFER = 1 << 16  # bytes tarfile reads at a time from the inflated stream (its default: 10 KiB)


class ArchiveError(RuntimeError):
    """An archive refused before extraction; the message names the archive and the member."""


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    max_bytes: int = DEFAULT_MAX_BYTES  # sum of the members' declared sizes
    max_members: int = DEFAULT_MAX_MEMBERS

    @property
    def stream_bytes(self) -> int:
        """The most bytes a tar within the limits can hold: the members plus room for headers."""
        return self.max_bytes + HEADER_BYTES * (self.max_members + 1) + END_BYTES

    def check_download(self, name: str, size: int | None) -> None:
        """Refuse an archive whose stored size is already over what could be within the limits."""
        if size is not None and size > self.stream_bytes:
            raise ArchiveError(f"{name}: the archive is {size:,} bytes, over {self.stream_bytes:,}; refused")

    @classmethod
    def from_env(cls) -> ArchiveLimits:
        """CODESIFT_ARCHIVE_MAX_BYTES and CODESIFT_ARCHIVE_MAX_MEMBERS (`shared.settings`)."""
        current = settings()
        return cls(max_bytes=current.archive_max_bytes, max_members=current.archive_max_members)


async def read_object(store: ObjectStore, name: str, limits: ArchiveLimits | None = None) -> bytes:
    """Object `name` of `store` in memory; ArchiveError, unread, when its stored size is over the limits.

    Into a buffer: without `writeinto`, nats-py appends chunk after chunk to one bytes object,
    copying it every time (a 137 MB artifact took 39 s to download instead of 2.5 s).
    """
    limits = limits or ArchiveLimits.from_env()
    info = await store.get_info(name)
    limits.check_download(name, info.size)
    buffer = io.BytesIO()
    await store.get(name, writeinto=buffer)
    return buffer.getvalue()


def checked_members(tar: tarfile.TarFile, name: str, limits: ArchiveLimits) -> Iterator[tarfile.TarInfo]:
    """Every member of `tar`, read header by header, each yielded once it passed; ArchiveError at the
    first one refused."""
    total = 0
    for count, member in enumerate(tar):
        if count >= limits.max_members:
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
        yield member


def extract(data: bytes, target: Path, name: str, limits: ArchiveLimits | None = None) -> None:
    """Extract the tar (plain or compressed) `data` into `target`, each member checked before it is.

    `target` is a fresh directory that the caller removes when this raises (a staging directory,
    a temporary one): a refused member stops the extraction there, so members before it may be in
    `target`, never anywhere else. Raises ArchiveError naming `name` (the version or snapshot) and
    the member; tarfile.TarError when the bytes are not a tar archive.

    One pass over the archive as a stream, inflated as it is read and capped at the limits plus
    room for the headers (a header claiming gigabytes of PAX text is cut off there too): unpacking
    costs what tarfile's extractall costs (bench/limits.py).
    """
    limits = limits or ArchiveLimits.from_env()
    with (
        _Capped(_inflated(data), limits.stream_bytes, name) as stream,
        tarfile.open(fileobj=stream, mode="r|", bufsize=STREAM_BUFFER) as tar,
    ):
        for member in checked_members(tar, name, limits):
            tar.extract(member, target, filter="data")


def _inflated(data: bytes) -> io.BufferedIOBase:
    """`data` as a stream of its tar bytes: inflated as it is read when gzip, bzip2 or xz."""
    raw = io.BytesIO(data)
    if data.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=raw)
    if data.startswith(b"BZh"):
        return bz2.BZ2File(raw)
    if data.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(raw)
    return raw


class _Capped(io.RawIOBase):
    """A readable stream that raises ArchiveError once more than `cap` bytes came out of it."""

    def __init__(self, stream: io.BufferedIOBase, cap: int, name: str):
        self.stream, self.cap, self.name, self.count = stream, cap, name, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        n = self.stream.readinto(buffer)
        self.count += n
        if self.count > self.cap:
            raise ArchiveError(
                f"{self.name}: more than {self.cap:,} bytes unpacked, headers included; refused"
            )
        return n

    def close(self) -> None:
        self.stream.close()
        super().close()
