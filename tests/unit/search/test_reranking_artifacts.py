"""Model artifacts on a replica's disk: fetched from a real object store once, checked every time."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nats
import pytest

from services.search.artifact_cache import entry, fetch_artifact, prune
from shared.artifacts import MANIFEST, ArtifactError, file_hashes, put_model
from shared.streams import Buckets, bootstrap


def fake_model(root: Path, version: str, content: str = "weights") -> Path:
    """A directory with a valid manifest (the cache does not care what the files hold)."""
    directory = root / version
    directory.mkdir(parents=True)
    (directory / "model.int8.onnx").write_text(content)
    (directory / "tokenizer.json").write_text("{}")
    manifest = {"version": version, "files": file_hashes(directory)}
    (directory / MANIFEST).write_text(json.dumps(manifest))
    return directory


@pytest.fixture
async def js(nats_server):
    nc = await nats.connect(nats_server.url)
    yield await bootstrap(nc, replicas=1)
    await nc.close()


async def test_an_artifact_is_downloaded_once_then_served_from_the_cache(js, tmp_path):
    source = fake_model(tmp_path / "trainer", "cross-encoder-codesift-20260101-000001")
    sha = await put_model(js, source)
    cache = tmp_path / "cache"
    fetched = await fetch_artifact(js, source.name, sha, cache)
    assert fetched == entry(cache, source.name, sha)
    assert (fetched / "model.int8.onnx").read_text() == "weights"
    await (await js.object_store(Buckets.MODELS)).delete(source.name)
    assert await fetch_artifact(js, source.name, sha, cache) == fetched  # no download needed


async def test_an_archive_that_does_not_match_its_sha256_is_refused(js, tmp_path):
    source = fake_model(tmp_path / "trainer", "cross-encoder-codesift-20260101-000002")
    sha = await put_model(js, source)
    cache = tmp_path / "cache"
    await fetch_artifact(js, source.name, sha, cache)  # the genuine one is cached
    with pytest.raises(ArtifactError, match="does not match its sha256"):
        await fetch_artifact(js, source.name, "f" * 64, cache)  # never taken from the cache
    assert not entry(cache, source.name, "f" * 64).exists()


async def test_a_missing_artifact_is_named(js, tmp_path):
    with pytest.raises(
        ArtifactError, match="cross-encoder-codesift-20260101-000003: not in the object store"
    ):
        await fetch_artifact(js, "cross-encoder-codesift-20260101-000003", "0" * 64, tmp_path)


async def test_a_damaged_cache_entry_is_downloaded_again(js, tmp_path):
    source = fake_model(tmp_path / "trainer", "cross-encoder-codesift-20260101-000004")
    sha = await put_model(js, source)
    cache = tmp_path / "cache"
    fetched = await fetch_artifact(js, source.name, sha, cache)
    (fetched / "model.int8.onnx").write_text("tampered on disk")
    again = await fetch_artifact(js, source.name, sha, cache)
    assert (again / "model.int8.onnx").read_text() == "weights"


def test_prune_keeps_the_most_recently_used(tmp_path):
    for i in range(5):
        (tmp_path / f"v{i}.abc").mkdir()
        os.utime(tmp_path / f"v{i}.abc", (1000 + i, 1000 + i))
    (tmp_path / ".tmp-staging").mkdir()
    os.utime(tmp_path / "v0.abc", (2000, 2000))  # used again lately
    assert sorted(prune(tmp_path, keep=3)) == ["v1.abc", "v2.abc"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [
        ".tmp-staging",
        "v0.abc",
        "v3.abc",
        "v4.abc",
    ]
