import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from services.search.indexer import embed_key, embed_text, index_repository

DIM = 8


class CountingEmbedder:
    """Stands in for the ONNX embedder: a unit vector derived from the text's hash."""

    dim = DIM

    def __init__(self, identity: str = "counting-v1") -> None:
        self.texts: list[str] = []
        self.identity = identity

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.texts.extend(texts)
        return np.stack([self.vector(t) for t in texts]) if texts else np.zeros((0, DIM), np.float32)

    @staticmethod
    def vector(text: str) -> np.ndarray:
        seed = int.from_bytes(hashlib.sha1(text.encode()).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
        return v / np.linalg.norm(v)


FILES = {
    "app/auth.py": '''"""Authentication."""


def validate_token(token):
    """Check the signature of an OAuth token."""
    return verify(token)


def refresh_token(token):
    return issue(token.subject)
''',
    "app/render.py": """def render_template(name, context):
    return jinja.render(name, context)
""",
    "README.md": "# Demo\n\nA tiny repository for indexer tests.\n",
}


def write_repo(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_first_index_embeds_every_chunk_once(tmp_path):
    root = write_repo(tmp_path / "demo", FILES)
    embedder = CountingEmbedder()
    index, stats = index_repository(root, "demo", None, embedder)
    assert stats.files == 3
    assert stats.chunks == len(index.chunks) > 0
    assert stats.embedded == len(embedder.texts) == len(set(embedder.texts)) == stats.chunks
    assert stats.reused == 0
    assert index.repos() == {"demo": stats.chunks}
    for chunk, key, vector in zip(index.chunks, index.embed_keys, index.vectors, strict=True):
        assert key == embed_key(embed_text(chunk), embedder.identity)
        np.testing.assert_array_equal(vector, CountingEmbedder.vector(embed_text(chunk)))
    assert all(embed_text(c).startswith(f"{c.path}\n") for c in index.chunks)


def test_unchanged_repository_embeds_nothing(tmp_path):
    root = write_repo(tmp_path / "demo", FILES)
    first, _ = index_repository(root, "demo", None, CountingEmbedder())
    embedder = CountingEmbedder()
    second, stats = index_repository(root, "demo", first, embedder)
    assert stats.embedded == 0
    assert embedder.texts == []
    assert stats.reused == stats.chunks == len(first.chunks)
    assert second.version == first.version
    np.testing.assert_array_equal(second.vectors, first.vectors)


def test_changing_one_function_re_embeds_only_its_chunks(tmp_path):
    root = write_repo(tmp_path / "demo", FILES)
    first, _ = index_repository(root, "demo", None, CountingEmbedder())
    (root / "app/auth.py").write_text(
        FILES["app/auth.py"].replace("issue(token.subject)", "issue(token.sub)")
    )
    embedder = CountingEmbedder()
    second, stats = index_repository(root, "demo", first, embedder)
    old_keys = set(first.embed_keys)
    changed = [c for c, key in zip(second.chunks, second.embed_keys, strict=True) if key not in old_keys]
    assert len(changed) >= 1
    assert all(c.path == "app/auth.py" for c in changed)
    assert any("issue(token.sub)" in c.text for c in changed)
    assert not any("validate_token" in c.text and "refresh_token" not in c.text for c in changed)
    assert stats.embedded == len(changed) == len(embedder.texts)
    assert stats.reused == stats.chunks - len(changed)


def test_a_second_repository_leaves_the_first_intact(tmp_path):
    demo = write_repo(tmp_path / "demo", FILES)
    other = write_repo(tmp_path / "other", {"lib/bucket.py": "class TokenBucket:\n    def take(self): ...\n"})
    first, _ = index_repository(demo, "demo", None, CountingEmbedder())
    both, stats = index_repository(other, "other", first, CountingEmbedder())
    assert both.repos() == {"demo": len(first.chunks), "other": stats.chunks}
    demo_rows = [i for i, c in enumerate(both.chunks) if c.repo == "demo"]
    assert [both.chunks[i] for i in demo_rows] == first.chunks
    np.testing.assert_array_equal(both.vectors[demo_rows], first.vectors)

    # Re-indexing demo (now without README.md) replaces demo's chunks only.
    (demo / "README.md").unlink()
    again, _ = index_repository(demo, "demo", both, CountingEmbedder())
    assert again.repos()["other"] == stats.chunks
    assert "README.md" not in {c.path for c in again.chunks}
    hits = again.retrieve("token bucket", CountingEmbedder.vector("x"), k=3, repo="other")
    assert {again.chunks[h.index].path for h in hits} == {"lib/bucket.py"}


def test_identical_chunks_are_embedded_once(tmp_path):
    text = "def helper():\n    return 42\n"
    root = write_repo(tmp_path / "demo", {"a.py": text})
    (root / "b").mkdir()
    embedder = CountingEmbedder()
    index, stats = index_repository(root, "demo", None, embedder)
    assert stats.embedded == stats.chunks == 1
    # The same code under another path is another text for the embedder: the path is part of it.
    (root / "b" / "a.py").write_text(text)
    _, stats = index_repository(root, "demo", index, embedder)
    assert stats.embedded == 1
    assert stats.chunks == 2


def test_progress_rises_from_zero(tmp_path):
    root = write_repo(tmp_path / "demo", FILES)
    calls: list[tuple[float, str]] = []
    index_repository(root, "demo", None, CountingEmbedder(), progress=lambda f, m: calls.append((f, m)))
    fractions = [f for f, _ in calls]
    assert fractions[0] == 0.0
    assert fractions == sorted(fractions)
    assert 0.9 <= fractions[-1] <= 1.0
    assert any("embedded" in m for _, m in calls)


def test_dimension_mismatch_is_refused(tmp_path):
    root = write_repo(tmp_path / "demo", FILES)
    first, _ = index_repository(root, "demo", None, CountingEmbedder())
    wider = CountingEmbedder()
    wider.dim = DIM * 2
    with pytest.raises(ValueError, match="from scratch"):
        index_repository(root, "demo", first, wider)


def test_switching_embedder_reembeds_every_repository(tmp_path):
    """Vectors of two models never mix in one index: another embedder re-embeds the other repo too."""
    first, second = tmp_path / "first", tmp_path / "second"
    for root in (first, second):
        for rel, text in FILES.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
    old = CountingEmbedder("model-a")
    index, _ = index_repository(first, "first", None, old)
    new = CountingEmbedder("model-b")
    index, stats = index_repository(second, "second", index, new)
    assert stats.embedded == stats.chunks  # this repository: all new
    first_texts = {embed_text(c) for c in index.chunks if c.repo == "first"}
    assert first_texts <= set(new.texts)  # the other repository was re-embedded by the new model
    pairs = zip(index.chunks, index.embed_keys, strict=True)
    assert all(k == embed_key(embed_text(c), "model-b") for c, k in pairs)


def test_skipped_files_are_counted_in_the_stats(tmp_path):
    root = write_repo(tmp_path / "repo", FILES)
    write_repo(tmp_path / "outside", {"secret.py": "KEY = 'outside the repository'\n"})
    (root / "a_leak.py").symlink_to(tmp_path / "outside" / "secret.py")
    (root / "app" / "big.py").write_text("x = 1\n" * 200)
    embedder = CountingEmbedder()
    # in path order: README.md, a_leak.py (a link out: never opened), app/auth.py, app/big.py (too
    # large), app/render.py (past the 3 files opened)
    index, stats = index_repository(root, "demo", None, embedder, max_file_bytes=1000, max_files=3)
    assert stats.files == 2 and {c.path for c in index.chunks} == {"README.md", "app/auth.py"}
    assert stats.skipped == {"link_outside": 1, "over_max_files": 1, "too_large": 1}
    assert not any("outside the repository" in text for text in embedder.texts)


@pytest.mark.slow
def test_a_repository_of_many_tiny_files_is_indexed_up_to_the_file_limit(tmp_path):
    """Past CODESIFT_MAX_FILES nothing is opened, only counted. 10,000 files (creating them is most
    of the cost here); bench/limits.py measures 100,000."""
    root = tmp_path / "many"
    for i in range(10_000):
        directory = root / f"pkg{i // 1000:03}"
        if i % 1000 == 0:
            directory.mkdir(parents=True)
        (directory / f"m{i:06}.py").write_text(f"def f{i}(x):\n    return x + {i}\n")
    index, stats = index_repository(root, "many", None, CountingEmbedder(), max_files=1_000)
    assert stats.files == 1_000 and stats.chunks == 1_000
    assert stats.skipped == {"over_max_files": 9_000}
    assert index.chunks[-1].path == "pkg000/m000999.py"  # in path order: the first 1,000
