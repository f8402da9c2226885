"""Archives from the object store: a hostile member is refused before anything is written anywhere."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import nats
import pytest

from bench.limits import bomb_archive
from services.search.artifact_cache import entry, fetch_artifact
from services.search.index import SearchIndex
from shared.archives import ArchiveError, ArchiveLimits, extract
from shared.artifacts import ArtifactError, archive, unpack, verify_manifest
from shared.streams import Buckets, bootstrap
from tests.unit.shared.test_artifacts import VERSION, make_artifact

Member = Callable[[tarfile.TarFile], None]


def add_file(name: str, data: bytes = b"payload") -> Member:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))

    return add


def add_special(name: str, kind: bytes, linkname: str = "") -> Member:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.linkname = linkname
        tar.addfile(info)

    return add


def tar_of(*members: Member, compress: bool = False) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz" if compress else "w") as tar:
        for add in members:
            add(tar)
    return buffer.getvalue()


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


@pytest.fixture
def place(tmp_path: Path) -> Path:
    """A directory with a target inside; tests check nothing appears beside or above the target."""
    root = tmp_path / "place"
    (root / "target").mkdir(parents=True)
    return root


def hostile(tmp_path: Path) -> list[tuple[str, bytes, str]]:
    outside = tmp_path / "outside.txt"
    return [
        ("dotdot", tar_of(add_file("ok.txt"), add_file("../escaped.txt")), "climbs out of its root"),
        ("absolute", tar_of(add_file(str(outside))), "is an absolute path"),
        ("nul", tar_of(add_file("a\x00b")), "NUL"),  # tarfile cuts the name at NUL: 'a'... or refuses
        ("symlink", tar_of(add_special("link", tarfile.SYMTYPE, "/etc/passwd")), "is a link"),
        (
            "through-link",  # a link inside, then a file written through it
            tar_of(add_special("d", tarfile.SYMTYPE, str(tmp_path)), add_file("d/outside.txt")),
            "is a link",
        ),
        ("hardlink", tar_of(add_file("a"), add_special("b", tarfile.LNKTYPE, "/etc/passwd")), "is a link"),
        ("device", tar_of(add_special("zero", tarfile.CHRTYPE)), "is a device or FIFO"),
        ("fifo", tar_of(add_special("pipe", tarfile.FIFOTYPE)), "is a device or FIFO"),
    ]


@pytest.mark.parametrize("case", range(8))
def test_a_hostile_member_is_refused_naming_the_archive_and_the_member(
    case: int, tmp_path: Path, place: Path
):
    label, data, reason = hostile(tmp_path)[case]
    before = files_under(tmp_path)
    try:
        extract(data, place / "target", f"archive-{label}")
    except ArchiveError as exc:
        assert str(exc).startswith(f"archive-{label}: member ")
        assert reason in str(exc)
    else:  # only possible for the NUL case, when tarfile already cut the name: still nothing outside
        assert label == "nul"
    written = files_under(tmp_path) - before
    assert all(path.startswith("place/target/") for path in written)  # members before the refused one
    assert "place/target/link" not in written and "place/target/d" not in written
    assert not (tmp_path / "outside.txt").exists() and not (tmp_path / "escaped.txt").exists()


def test_past_the_member_limit_the_archive_is_refused(place: Path):
    data = tar_of(*(add_file(f"f{i}") for i in range(11)))
    with pytest.raises(ArchiveError, match=r"^snap: more than 10 members \(member 'f10'\)"):
        extract(data, place / "target", "snap", ArchiveLimits(max_members=10))
    assert "target/f10" not in files_under(place) and {p.name for p in place.iterdir()} == {"target"}
    extract(data, place / "fresh", "snap", ArchiveLimits(max_members=11))  # at the limit: fine
    assert len(files_under(place / "fresh")) == 11


def test_a_gzip_bomb_is_refused_from_its_headers_before_it_is_inflated(place: Path):
    data = bomb_archive(1 << 30)  # 1 GiB of zeros: ~1 MB compressed
    assert len(data) < 5 << 20
    began = time.perf_counter()
    with pytest.raises(
        ArchiveError, match=r"member 'vectors.npy' brings the archive to over 1,048,576 bytes"
    ):
        extract(data, place / "target", "bomb", ArchiveLimits(max_bytes=1 << 20))
    assert time.perf_counter() - began < 2.0  # the headers only: inflating 1 GiB takes longer
    assert files_under(place) == {"target"}


def test_a_refused_model_archive_leaves_the_model_already_there_as_it_was(tmp_path: Path):
    cache = tmp_path / "cache"
    good = archive(make_artifact(tmp_path / "models"))
    served = unpack(good, hashlib.sha256(good).hexdigest(), cache / VERSION)
    before = {p.name: p.read_bytes() for p in served.iterdir()}

    evil = tar_of(add_file("manifest.json", b"{}"), add_file("../../pwned.txt"))
    with pytest.raises(ArtifactError, match=rf"^{VERSION}: member '../../pwned.txt' climbs out"):
        unpack(evil, hashlib.sha256(evil).hexdigest(), cache / VERSION)

    assert {p.name: p.read_bytes() for p in served.iterdir()} == before
    verify_manifest(served)
    assert sorted(p.name for p in cache.iterdir()) == [VERSION]  # no staging directory left
    assert not (tmp_path / "pwned.txt").exists()


def test_an_index_snapshot_with_a_link_is_refused(tmp_path: Path):
    data = tar_of(
        add_file("chunks.json", b"{}"),
        add_special("vectors.npy", tarfile.SYMTYPE, "/dev/zero"),
        compress=True,
    )
    with pytest.raises(
        ArchiveError, match=r"^index-20260101: member 'vectors.npy' is a link \(to '/dev/zero'\)"
    ):
        SearchIndex.from_archive(data, "index-20260101")


def test_the_limits_come_from_the_settings(monkeypatch):
    from shared import settings

    monkeypatch.setenv("CODESIFT_ARCHIVE_MAX_MEMBERS", "7")
    monkeypatch.setenv("CODESIFT_ARCHIVE_MAX_BYTES", "4096")
    settings.settings.cache_clear()
    try:
        assert ArchiveLimits.from_env() == ArchiveLimits(max_bytes=4096, max_members=7)
        monkeypatch.delenv("CODESIFT_ARCHIVE_MAX_MEMBERS")
        monkeypatch.delenv("CODESIFT_ARCHIVE_MAX_BYTES")
        settings.settings.cache_clear()
        assert ArchiveLimits.from_env() == ArchiveLimits(2 << 30, 10_000)
    finally:
        settings.settings.cache_clear()


async def test_a_replica_refuses_a_hostile_artifact_from_the_object_store_and_keeps_its_model(
    nats_server, tmp_path: Path
):
    """Through a real object store: the version served stays cached and verified, nothing is written
    outside the cache, and the hostile version leaves no entry behind."""
    nc = await nats.connect(nats_server.url)
    try:
        js = await bootstrap(nc)
        store = await js.object_store(Buckets.MODELS)
        good = archive(make_artifact(tmp_path / "models"))
        await store.put(VERSION, good)
        evil_version = "cross-encoder-codesift-20260102-120000"
        evil = tar_of(
            add_file("manifest.json", b"{}"), add_special("model.int8.onnx", tarfile.SYMTYPE, "/etc/passwd")
        )
        await store.put(evil_version, evil)

        cache = tmp_path / "replica-cache"
        served = await fetch_artifact(js, VERSION, hashlib.sha256(good).hexdigest(), cache)
        with pytest.raises(
            ArtifactError, match=rf"^{evil_version}\.[0-9a-f]{{16}}: member 'model.int8.onnx' is a link"
        ):
            await fetch_artifact(js, evil_version, hashlib.sha256(evil).hexdigest(), cache)

        verify_manifest(served)
        assert not entry(cache, evil_version, hashlib.sha256(evil).hexdigest()).exists()
        assert {p.name for p in cache.iterdir() if not p.name.startswith(".")} == {served.name}
    finally:
        await nc.close()


async def test_a_version_from_the_bus_that_is_a_path_is_refused_before_any_download(tmp_path: Path):
    """A broadcast names the version a replica caches under: `../../x` never becomes a directory."""
    cache = tmp_path / "deep" / "replica-cache"
    for version in ("../../escaped", "a/b", ".hidden"):
        with pytest.raises(ArtifactError, match="refused"):
            await fetch_artifact(None, version, "0" * 64, cache)  # type: ignore[arg-type]  # no bus needed
    assert files_under(tmp_path) == set()


def test_a_header_that_claims_megabytes_is_cut_off_at_the_limit_while_reading(place: Path):
    """A PAX header is read whole by tarfile before any member check: the stream itself is capped."""
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb") as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        info = tarfile.TarInfo("chunks.json")
        info.pax_headers = {"comment": "x" * 3_000_000}
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(
        ArchiveError, match=r"^snap: more than [\d,]+ bytes unpacked, headers included; refused$"
    ):
        extract(buffer.getvalue(), place / "target", "snap", ArchiveLimits(max_bytes=1 << 20, max_members=10))
    assert files_under(place) == {"target"}


async def test_an_archive_stored_bigger_than_the_limits_is_refused_unread(
    nats_server, tmp_path: Path, monkeypatch
):
    from shared import settings

    monkeypatch.setenv("CODESIFT_ARCHIVE_MAX_BYTES", str(1 << 20))
    monkeypatch.setenv("CODESIFT_ARCHIVE_MAX_MEMBERS", "10")
    settings.settings.cache_clear()
    nc = await nats.connect(nats_server.url)
    try:
        js = await bootstrap(nc)
        big = b"\0" * (2 << 20)
        await (await js.object_store(Buckets.MODELS)).put(VERSION, big)
        with pytest.raises(
            ArtifactError,
            match=rf"^{VERSION}: the archive is 2,097,152 bytes, over 1,\d{{3}},\d{{3}}; refused",
        ):
            await fetch_artifact(js, VERSION, hashlib.sha256(big).hexdigest(), tmp_path / "cache")
    finally:
        await nc.close()
        settings.settings.cache_clear()
