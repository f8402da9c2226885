"""Resource limits under hostile input: time and peak memory of the cases that used to have no bound.

    python -m bench.limits [--files 100000] [--line-mb 100] [--bomb-gb 3]

Each case runs in its own forked process, so its peak RSS (ru_maxrss) is its own:

- walk + chunk a repository of N tiny generated files (every file read, every chunk built), then
  the BM25 index over those chunks (`SearchIndex.build`, zero vectors: embedding is another bench),
  and its snapshot unpacked with every member checked against tarfile's extractall alone (best of 3);
- the same walk with CODESIFT_MAX_FILES at a tenth of N: what is left is counted, never opened;
- one text file of a single line of --line-mb MB: skipped as too large at the default
  CODESIFT_MAX_FILE_BYTES (1 MB), and chunked with that limit raised (chunks capped at
  MAX_CHUNK_CHARS, so no chunk holds the line);
- an index snapshot declaring --bomb-gb GiB of zeros (a gzip bomb of a few MB): refused from its
  headers by `shared.archives` before anything is inflated.
"""

from __future__ import annotations

import argparse
import gzip
import io
import multiprocessing
import os
import resource
import tarfile
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from services.search.chunkers.spans import MAX_CHUNK_CHARS
from services.search.chunking import chunk_file
from services.search.files import walk_repository
from services.search.index import SearchIndex
from shared.archives import ArchiveError, extract

Figures = dict[str, object]


def make_repo(root: Path, files: int) -> None:
    """`files` tiny Python files, 1,000 per directory."""
    for i in range(files):
        directory = root / f"pkg{i // 1000:03}"
        if i % 1000 == 0:
            directory.mkdir(parents=True)
        (directory / f"m{i:06}.py").write_text(f"def f{i}(x):\n    return x + {i}\n")


def walk_and_chunk(root: Path, max_files: int | None, build: bool) -> Figures:
    skipped: Counter[str] = Counter()
    began = time.perf_counter()
    chunks = []
    files = 0
    for source in walk_repository(root, max_files=max_files, skipped=skipped):
        files += 1
        chunks.extend(chunk_file(source))
    figures: Figures = {
        "files": files,
        "chunks": len(chunks),
        "skipped": dict(skipped),
        "walk_chunk_s": round(time.perf_counter() - began, 2),
    }
    if build:
        began = time.perf_counter()
        index = SearchIndex.build(chunks, np.zeros((len(chunks), 384), np.float32), [""] * len(chunks))
        figures["bm25_build_s"] = round(time.perf_counter() - began, 2)
        figures |= snapshot_check(index.to_archive())
    return figures


def snapshot_check(data: bytes) -> Figures:
    """Unpacking a real snapshot with every member checked, against tarfile's extractall alone."""
    timings = {}
    for label, unpack in (("plain", _plain_extract), ("checked", lambda d, t: extract(d, t, "snapshot"))):
        best = float("inf")
        for _ in range(3):
            with tempfile.TemporaryDirectory() as target:
                began = time.perf_counter()
                unpack(data, Path(target))
                best = min(best, time.perf_counter() - began)
        timings[f"snapshot_{label}_extract_s"] = round(best, 3)
    return {"snapshot_mb": round(len(data) / 1e6, 1), **timings}


def _plain_extract(data: bytes, target: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
        tar.extractall(target, filter="data")


def write_huge_line(root: Path, megabytes: int) -> None:
    """blob.txt: one line of `megabytes` MB, written a megabyte at a time."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / "blob.txt").open("w") as f:
        for _ in range(megabytes):
            f.write("word " * 200_000)
        f.write("\n")


def huge_line(root: Path, max_file_bytes: int) -> Figures:
    skipped: Counter[str] = Counter()
    began = time.perf_counter()
    chunks = [
        c
        for s in walk_repository(root, max_file_bytes=max_file_bytes, skipped=skipped)
        for c in chunk_file(s)
    ]
    return {
        "max_file_bytes": max_file_bytes,
        "chunks": len(chunks),
        "longest_chunk_chars": max((len(c.text) for c in chunks), default=0),
        "skipped": dict(skipped),
        "seconds": round(time.perf_counter() - began, 2),
    }


def bomb_archive(size: int) -> bytes:
    """A tar.gz whose one member, `vectors.npy`, inflates to `size` zero bytes (~1/1000 compressed);
    built without holding the zeros in memory (tests/unit/shared/test_archives.py uses it too)."""
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9) as gz,
        tarfile.open(fileobj=gz, mode="w") as tar,
    ):
        info = tarfile.TarInfo("vectors.npy")
        info.size = size
        tar.addfile(info, _Zeros(size))
    return buffer.getvalue()


def gzip_bomb(gigabytes: int) -> Figures:
    size = gigabytes << 30
    data = bomb_archive(size)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as target:
        try:
            extract(data, Path(target), "index-bomb")
            outcome = "extracted (!)"
        except ArchiveError as exc:
            outcome = str(exc)
    return {
        "archive_bytes": len(data),
        "declared_bytes": size,
        "refused_in_ms": round((time.perf_counter() - began) * 1000, 1),
        "outcome": outcome,
    }


class _Zeros(io.RawIOBase):
    def __init__(self, size: int):
        self.left = size

    def readinto(self, buffer) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n

    def readable(self) -> bool:
        return True


def _child(case: Callable[[], Figures], pipe) -> None:
    figures = case()
    figures["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    pipe.send(figures)


def measured(case: Callable[[], Figures]) -> Figures:
    """Run `case` in a forked child; its figures plus its own peak RSS."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(case, send))
    process.start()
    figures = receive.recv()
    process.join()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--line-mb", type=int, default=100)
    parser.add_argument("--bomb-gb", type=int, default=3)
    args = parser.parse_args()
    print(f"python RSS at start: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")

    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "many"
        began = time.perf_counter()
        make_repo(repo, args.files)
        print(f"generated {args.files:,} files in {time.perf_counter() - began:.1f} s")
        print("all files, walk + chunk + BM25:", measured(lambda: walk_and_chunk(repo, None, build=True)))
        limit = max(1, args.files // 10)
        print(f"CODESIFT_MAX_FILES={limit:,}:", measured(lambda: walk_and_chunk(repo, limit, build=False)))

        blob = Path(tmp) / "blob"
        write_huge_line(blob, args.line_mb)
        print(f"one {args.line_mb} MB line, default limit:", measured(lambda: huge_line(blob, 1_000_000)))
        raised = (args.line_mb + 1) * 1_000_000
        print(f"one {args.line_mb} MB line, limit raised:", measured(lambda: huge_line(blob, raised)))
        print(f"(chunks capped at {MAX_CHUNK_CHARS:,} characters)")

    print(f"gzip bomb of {args.bomb_gb} GiB:", measured(lambda: gzip_bomb(args.bomb_gb)))
    print(f"cpu count {os.cpu_count()}")


if __name__ == "__main__":
    main()
