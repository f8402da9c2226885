"""One contract, both retrieval backends: the embedded index everywhere, OpenSearch where a
Docker engine runs (testcontainers starts one node; no Docker engine here or in CI: skipped)."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.search.backend import IndexStore, NothingToIndex
from services.search.indexer import EmbeddedStore
from services.search.settings import SearchSettings
from shared.tokens import code_tokens
from tests.unit.search.test_indexer import FILES, CountingEmbedder, write_repo

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "sample_repo"
OPENSEARCH_IMAGE = "opensearchproject/opensearch:2.19.1"
NO_DOCKER = "no Docker engine: the OpenSearch backend's contract run needs one (testcontainers)"


def docker_engine() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def opensearch_url() -> Iterator[str]:
    if not docker_engine():
        pytest.skip(NO_DOCKER)
    from testcontainers.opensearch import OpenSearchContainer

    with OpenSearchContainer(OPENSEARCH_IMAGE, security_enabled=False) as container:
        host, port = container.get_container_host_ip(), container.get_exposed_port(9200)
        yield f"http://{host}:{port}"


@pytest.fixture(params=["embedded", "opensearch"])
def store(request) -> Iterator[IndexStore]:
    if request.param == "embedded":
        yield EmbeddedStore()
        return
    from services.search.opensearch.client import make_client
    from services.search.opensearch.writer import OpenSearchStore

    url = request.getfixturevalue("opensearch_url")
    settings = SearchSettings(
        index_backend="opensearch", opensearch_url=url, opensearch_index_prefix=f"t{uuid.uuid4().hex[:8]}"
    )
    client = make_client(settings)
    yield OpenSearchStore(client, settings)
    client.indices.delete(index=f"{settings.opensearch_index_prefix}-*")
    client.close()


def sample(tmp_path: Path) -> Path:
    root = tmp_path / "sample"
    shutil.copytree(SAMPLE, root)
    return root


def test_a_repository_is_indexed_and_its_chunks_retrieved(store, tmp_path):
    embedder = CountingEmbedder()
    stats = store.index_repository(sample(tmp_path), "sample", embedder)
    index = store.reader()
    assert index is not None
    assert index.repos() == {"sample": stats.chunks} and index.chunk_count() == stats.chunks
    assert stats.embedded == len(embedder.texts) == stats.chunks
    query = "how are passwords hashed before they are stored"
    hits = index.retrieve(query, CountingEmbedder.vector(query), k=5)
    assert [h.fusion_rank for h in hits] == [1, 2, 3, 4, 5]
    best_bm25 = min((h for h in hits if h.bm25_rank is not None), key=lambda h: h.bm25_rank)
    assert best_bm25.chunk.path == "acme/auth/passwords.py" and best_bm25.bm25_score > 0
    assert all(h.file_kind and h.chunk.repo == "sample" and -1 <= h.vector_score <= 1 for h in hits)
    assert all(
        h.bm25_score == 0 for h in hits if h.bm25_rank is None and "password" not in h.chunk.text.lower()
    )


def test_the_repository_filter(store, tmp_path):
    store.index_repository(sample(tmp_path), "sample", CountingEmbedder())
    store.index_repository(write_repo(tmp_path / "other", FILES), "other", CountingEmbedder())
    index = store.reader()
    query = "validate the token"
    vector = CountingEmbedder.vector(query)
    assert {h.chunk.repo for h in index.retrieve(query, vector, k=50, repo="other")} == {"other"}
    assert {h.chunk.repo for h in index.retrieve(query, vector, k=50)} == {"other", "sample"}
    assert index.retrieve(query, vector, k=5, repo="missing") == []


def test_reindexing_embeds_only_what_changed_and_leaves_one_index(store, tmp_path):
    root = write_repo(tmp_path / "demo", FILES)
    store.index_repository(root, "demo", CountingEmbedder())
    again = CountingEmbedder()
    assert store.index_repository(root, "demo", again).embedded == 0 and again.texts == []
    (root / "app" / "render.py").write_text("def render_page(name):\n    return name.upper()\n")
    changed = CountingEmbedder()
    stats = store.index_repository(root, "demo", changed)
    assert stats.embedded == len(changed.texts) == 1
    assert all(t.startswith("app/render.py\n") for t in changed.texts)
    docs = store.reader().documents("demo")[1]
    assert any("render_page" in c.text for c in docs) and not any("render_template" in c.text for c in docs)
    if hasattr(store, "versions"):  # OpenSearch: the old versioned indexes are gone
        from services.search.opensearch.names import repo_alias

        versions = store.versions(repo_alias(store.prefix, "demo"))
        assert len(versions) == 1 and next(iter(versions.values())) == sorted(
            [repo_alias(store.prefix, "demo"), store.read]
        )


def test_documents_in_indexing_order(store, tmp_path):
    store.index_repository(sample(tmp_path), "sample", CountingEmbedder())
    index = store.reader()
    total, everything = index.documents("sample", limit=5000)
    assert total == len(everything) == index.repos()["sample"]
    total, page = index.documents("sample", offset=3, limit=4)
    assert page == everything[3:7]
    wanted = [everything[5].doc_id, everything[1].doc_id]
    assert index.documents("sample", doc_ids=wanted)[1] == [everything[1], everything[5]]


def test_deleting_a_repository_keeps_the_others(store, tmp_path):
    store.index_repository(sample(tmp_path), "sample", CountingEmbedder())
    store.index_repository(write_repo(tmp_path / "other", FILES), "other", CountingEmbedder())
    store.delete_repository("other")
    index = store.reader()
    assert set(index.repos()) == {"sample"}
    hits = index.retrieve("refresh token", CountingEmbedder.vector("refresh token"), k=50)
    assert hits and {h.chunk.repo for h in hits} == {"sample"}


def test_an_empty_repository_is_refused_and_changes_nothing(store, tmp_path):
    store.index_repository(write_repo(tmp_path / "demo", FILES), "demo", CountingEmbedder())
    (tmp_path / "empty").mkdir()
    with pytest.raises(NothingToIndex, match="nothing to index"):
        store.index_repository(tmp_path / "empty", "demo", CountingEmbedder())
    assert set(store.reader().repos()) == {"demo"}


def test_opensearch_finds_what_the_embedded_index_finds(opensearch_url, tmp_path):
    """The fixture repository: the same BM25 top 10 and the same fused set for golden questions."""
    from services.search.opensearch.client import make_client
    from services.search.opensearch.writer import OpenSearchStore

    settings = SearchSettings(
        index_backend="opensearch",
        opensearch_url=opensearch_url,
        opensearch_index_prefix=f"t{uuid.uuid4().hex[:8]}",
    )
    client = make_client(settings)
    try:
        remote, local = OpenSearchStore(client, settings), EmbeddedStore()
        for store in (remote, local):
            store.index_repository(sample(tmp_path / type(store).__name__), "sample", CountingEmbedder())
        for text in ["parseHTTPResponse", "validate_token", "retry with exponential backoff"]:
            analyzed = client.indices.analyze(
                index=f"{settings.opensearch_index_prefix}-all", body={"analyzer": "code", "text": text}
            )
            assert sorted(t["token"] for t in analyzed["tokens"]) == sorted(code_tokens(text))
        questions = [
            q["q"] for q in __import__("json").loads((SAMPLE.parent / "sample_golden.json").read_text())
        ]
        for q in questions:
            vector = CountingEmbedder.vector(q)
            ours = local.reader().retrieve(q, vector, k=10, depth=100)
            theirs = remote.reader().retrieve(q, vector, k=10, depth=100)
            assert {h.chunk.doc_id for h in theirs} == {h.chunk.doc_id for h in ours}, q
    finally:
        client.indices.delete(index=f"{settings.opensearch_index_prefix}-*")
        client.close()
