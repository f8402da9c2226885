import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from services.search.documents import Chunk
from services.search.index import IndexFormatError, SearchIndex

DIM = 16
CODE = {
    ("alpha", "auth/oauth.py"): "def validate_token(token):\n    return verify_signature(token)\n",
    ("alpha", "auth/session.py"): "class SessionStore:\n    def expire(self, session_id): ...\n",
    ("alpha", "web/render.py"): "def render_template(name, context):\n    return jinja.render(name)\n",
    ("beta", "limits/bucket.py"): "class TokenBucket:\n    def take(self, tokens=1): ...\n",
    ("beta", "docs/readme.md"): "# Beta\nRate limiting with a token bucket.\n",
}


def make_chunks() -> list[Chunk]:
    return [
        Chunk(path=path, start_line=1, end_line=2, text=text, language="python", kind="module", repo=repo)
        for (repo, path), text in CODE.items()
    ]


def make_index() -> SearchIndex:
    chunks = make_chunks()
    vectors = np.random.default_rng(0).standard_normal((len(chunks), DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return SearchIndex.build(chunks, vectors, [f"key-{i}" for i in range(len(chunks))])


def paths(index: SearchIndex, hits) -> list[str]:
    return [index.chunks[h.index].path for h in hits]


def test_repos_and_masks():
    index = make_index()
    assert index.repos() == {"alpha": 3, "beta": 2}
    assert index.repo_mask(None) is None
    assert index.repo_mask("beta").tolist() == [False, False, False, True, True]
    assert not index.repo_mask("gamma").any()


def test_retrieve_fuses_keyword_and_vector_hits():
    index = make_index()
    query_vector = index.vectors[2]  # the render chunk is the nearest vector
    hits = index.retrieve("validate token", query_vector, k=5)
    assert [h.fusion_rank for h in hits] == list(range(1, len(hits) + 1))
    assert all(a.fusion_score >= b.fusion_score for a, b in itertools.pairwise(hits))
    by_path = {index.chunks[h.index].path: h for h in hits}
    oauth = by_path["auth/oauth.py"]
    assert oauth.bm25_rank == 1
    assert oauth.bm25_score > 0
    render = by_path["web/render.py"]
    assert render.vector_rank == 1
    assert render.vector_score == pytest.approx(1.0)
    assert render.bm25_rank is None  # no query word occurs in it
    assert render.bm25_score == 0.0
    assert hits[0].fusion_score == pytest.approx(
        sum(1 / (60 + r) for r in (hits[0].bm25_rank, hits[0].vector_rank) if r is not None)
    )


def test_retrieve_stays_inside_the_repo_and_returns_k():
    index = make_index()
    hits = index.retrieve("token", index.vectors[0], k=10, repo="beta")
    assert sorted(paths(index, hits)) == ["docs/readme.md", "limits/bucket.py"]
    assert len(index.retrieve("token", index.vectors[0], k=2)) == 2
    assert index.retrieve("token", index.vectors[0], k=5, repo="gamma") == []


def test_depth_limits_each_retriever():
    index = make_index()
    hits = index.retrieve("token", index.vectors[2], k=10, depth=1)
    assert sum(h.bm25_rank is not None for h in hits) == 1
    assert sum(h.vector_rank is not None for h in hits) == 1
    assert len(hits) <= 2


def test_save_load_round_trip(tmp_path):
    index = make_index()
    index.save(tmp_path / "index")
    loaded = SearchIndex.load(tmp_path / "index")
    assert loaded.chunks == index.chunks
    assert [c.repo for c in loaded.chunks] == [c.repo for c in index.chunks]
    assert loaded.embed_keys == index.embed_keys
    assert loaded.version == index.version
    np.testing.assert_array_equal(loaded.vectors, index.vectors)
    np.load(tmp_path / "index" / "vectors.npy", allow_pickle=False)
    for query, vector in (("validate token", index.vectors[2]), ("rate limiting", index.vectors[4])):
        assert loaded.retrieve(query, vector, k=5) == index.retrieve(query, vector, k=5)


def test_save_replaces_an_existing_index(tmp_path):
    first = make_index()
    first.save(tmp_path / "index")
    chunks = make_chunks()[:2]
    second = SearchIndex.build(chunks, first.vectors[:2], first.embed_keys[:2])
    second.save(tmp_path / "index")
    assert len(SearchIndex.load(tmp_path / "index").chunks) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]  # no staging or old copies left


def test_archive_round_trip_and_equal_bytes_for_equal_content():
    index = make_index()
    data = index.to_archive()
    assert data == index.to_archive()
    restored = SearchIndex.from_archive(data)
    assert restored.chunks == index.chunks
    assert restored.retrieve("token", index.vectors[3], k=5) == index.retrieve("token", index.vectors[3], k=5)
    assert restored.to_archive() == data


def test_archive_bytes_do_not_depend_on_the_process():
    # String hashing is seeded per process: a vocabulary in set order would differ between runs.
    script = "import sys, hashlib\nfrom tests.unit.search.test_index import make_index\n"
    script += "print(hashlib.sha256(make_index().to_archive()).hexdigest())"
    root = Path(__file__).resolve().parents[3]
    digests = {
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=root,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(digests) == 1


def test_empty_index():
    index = SearchIndex.build([], np.zeros((0, DIM), dtype=np.float32), [])
    assert index.repos() == {}
    assert index.retrieve("anything", np.ones(DIM, dtype=np.float32) / 4, k=5) == []
    assert SearchIndex.from_archive(index.to_archive()).chunks == []


def test_parts_must_agree_in_length():
    index = make_index()
    with pytest.raises(IndexFormatError, match="differ in length"):
        SearchIndex.build(index.chunks, index.vectors[:3], index.embed_keys)
