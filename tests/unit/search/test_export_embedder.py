from pathlib import Path

import pytest

from services.search import export_embedder
from services.search.export_embedder import default_source, ensure_embedder, source_hash


def test_a_failed_export_leaves_nothing_behind(tmp_path, monkeypatch):
    def half_export(source: Path, out: Path) -> None:
        (out / "model.onnx").write_bytes(b"half")
        raise RuntimeError("killed mid-export")

    monkeypatch.setattr(export_embedder, "_export", half_export)
    with pytest.raises(RuntimeError, match="mid-export"):
        ensure_embedder(tmp_path)
    assert list((tmp_path / "embedder").iterdir()) == []


def test_an_existing_export_is_returned_without_exporting(tmp_path, monkeypatch):
    def export(source: Path, out: Path) -> None:
        calls.append(source)
        (out / "embedder.json").write_text("{}")

    calls: list[Path] = []
    monkeypatch.setattr(export_embedder, "_export", export)
    first = ensure_embedder(tmp_path)
    second = ensure_embedder(tmp_path)
    assert first == second
    assert first.name.startswith("all-MiniLM-L6-v2-")
    assert (first / "embedder.json").exists()
    assert calls == [default_source().resolve()]


def test_the_cache_key_follows_the_source_config(tmp_path):
    source = default_source()
    copy = tmp_path / "model"
    copy.mkdir()
    for name in ("config.json", "tokenizer.json"):
        (copy / name).write_bytes((source / name).read_bytes())
    before = source_hash(copy)
    (copy / "config.json").write_text(
        (source / "config.json")
        .read_text()
        .replace('"max_position_embeddings": 512', '"max_position_embeddings": 256')
    )
    assert source_hash(copy) != before


def test_a_directory_without_a_model_is_refused(tmp_path):
    with pytest.raises(export_embedder.EmbedderExportError, match=r"config\.json"):
        ensure_embedder(tmp_path / "cache", tmp_path)
