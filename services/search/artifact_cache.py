"""Model artifacts on a replica's disk: downloaded once per machine, verified before every use.

Replicas on one machine share `CACHE_DIR/models/`; a lock file per artifact makes one of them
download while the others wait and then find it verified. An entry is named after the version
and the archive's sha256, so an archive that does not match the sha256 a promotion names is
never taken from the cache: it is downloaded, and refused by `shared.artifacts.unpack`.

The object store is read with `writeinto`: nats-py's plain `get` appends every chunk to a bytes
object, which took 40 s instead of 2.5 s for a 137 MB artifact here. Unpacking and hashing run in
a worker thread so the replica keeps answering while a model arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from nats.js import JetStreamContext
from nats.js.errors import ObjectNotFoundError

from shared.archives import ArchiveError, read_object
from shared.artifacts import ArtifactError, unpack, verify_manifest
from shared.paths import PathError, child
from shared.streams import Buckets

log = logging.getLogger("codesift.search")
KEEP = 3  # artifacts kept in the cache: the newest used (production, a candidate, the one before)


def entry(cache_dir: Path, version: str, sha256: str) -> Path:
    """The cache directory of `version`; ArtifactError unless it is one plain name inside `cache_dir`.

    The version and sha256 come from the bus (a broadcast, the registry): `../x` is refused here.
    """
    try:
        return child(cache_dir, f"{version}.{sha256[:16]}", "version")
    except PathError as exc:
        raise ArtifactError(f"{version!r}: {exc}; refused") from None


def lock_file(target: Path) -> Path:
    """Held while `target` (an entry) is fetched, verified or pruned."""
    return target.parent / f".{target.name}.lock"


async def fetch_artifact(js: JetStreamContext, version: str, sha256: str, cache_dir: Path) -> Path:
    """The verified directory of `version` whose archive has `sha256`; raises ArtifactError."""
    target = entry(cache_dir, version, sha256)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with lock_file(target).open("a") as lock:
        await asyncio.to_thread(fcntl.flock, lock, fcntl.LOCK_EX)
        try:
            if target.is_dir():
                try:
                    await asyncio.to_thread(verify_manifest, target)
                    os.utime(target)
                    return target
                except ArtifactError as exc:
                    log.warning("cached %s is damaged, downloading it again: %s", target.name, exc)
            data = await _download(js, version)
            await asyncio.to_thread(unpack, data, sha256, target)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    await asyncio.to_thread(prune, cache_dir)
    return target


async def _download(js: JetStreamContext, version: str) -> bytes:
    store = await js.object_store(Buckets.MODELS)
    try:
        return await read_object(store, version)
    except ObjectNotFoundError:
        raise ArtifactError(f"{version}: not in the object store `{Buckets.MODELS}`") from None
    except ArchiveError as exc:
        raise ArtifactError(str(exc)) from None


def prune(cache_dir: Path, keep: int = KEEP) -> list[str]:
    """Remove all but the `keep` most recently used artifacts (skipping any being fetched)."""
    entries = sorted(
        (p for p in cache_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    removed = []
    for path in entries[keep:]:
        with _try_lock(lock_file(path)) as locked:
            if locked:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path.name)
    return removed


@contextlib.contextmanager
def _try_lock(path: Path) -> Iterator[bool]:
    with path.open("a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
