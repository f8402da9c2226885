from services.trainer.mining.golden import mine_golden
from shared.schemas import Candidate, GoldenQuestion, Triplet


def candidate(path: str, rank: int, start: int = 1) -> Candidate:
    doc_id = f"{path}:{start}-{start + 9}"
    return Candidate(
        doc_id=doc_id,
        repo="sample",
        path=path,
        start_line=start,
        end_line=start + 9,
        language="python",
        chunk_kind="function",
        content_hash="0" * 40,
        text=f"code of {doc_id}",
        fusion_rank=rank,
        fusion_score=1 / (60 + rank),
        bm25_rank=rank,
        bm25_score=1.0,
        vector_rank=rank,
        vector_score=0.5,
    )


RANKED = {
    "where is the bearer token validated": [
        candidate("acme/auth/views.py", 1),
        candidate("acme/auth/tokens.py", 2, start=40),
        candidate("acme/auth/tokens.py", 3, start=1),
        candidate("acme/http/retry.py", 4),
        candidate("acme/storage/cache.py", 5),
        candidate("tests/test_tokens.py", 6),
    ],
    "how do I deploy the service": [
        candidate("scripts/deploy.sh", 3),  # answered out of rank order: the miner sorts
        candidate("README.md", 1),
        candidate("docs/deployment.md", 2),
        candidate("docs/deployment.md", 4, start=20),
    ],
    "least recently used eviction": [candidate("acme/auth/tokens.py", 1)],
}


class Search:
    def __init__(self):
        self.calls: list[tuple[str, str | None, int]] = []

    def __call__(self, query: str, repo: str | None, k: int) -> list[Candidate]:
        self.calls.append((query, repo, k))
        return RANKED[query]


def golden(q: str, *paths: str) -> GoldenQuestion:
    return GoldenQuestion(q=q, repo="sample", expect_paths=list(paths))


def expected(q: str, positive: str, negatives: list[str]) -> Triplet:
    return Triplet(
        query=q,
        positive_text=f"code of {positive}",
        positive_doc_id=positive,
        negative_texts=[f"code of {d}" for d in negatives],
        negative_doc_ids=negatives,
        source="golden",
        repo="sample",
    )


def test_best_ranked_match_is_the_positive_and_other_chunks_of_its_file_are_not_negatives():
    search = Search()
    question = golden("where is the bearer token validated", "auth/tokens.py")
    triplets, stats = mine_golden([question], search, k=12, negatives=3)
    assert search.calls == [("where is the bearer token validated", "sample", 12)]
    assert triplets == [
        expected(
            question.q,
            "acme/auth/tokens.py:40-49",
            ["acme/auth/views.py:1-10", "acme/http/retry.py:1-10", "acme/storage/cache.py:1-10"],
        )
    ]
    assert (stats.read, stats.queries, stats.triplets, stats.without_negatives) == (1, 1, 1, 0)


def test_one_triplet_per_expected_path_that_the_candidates_reach():
    question = golden("how do I deploy the service", "docs/deployment.md", "scripts/deploy.sh", "deploy/k8s")
    triplets, _ = mine_golden([question], Search(), negatives=7)
    assert triplets == [
        expected(question.q, "docs/deployment.md:1-10", ["README.md:1-10"]),
        expected(question.q, "scripts/deploy.sh:1-10", ["README.md:1-10"]),
    ]


def test_a_path_matching_two_expectations_gives_one_triplet():
    question = golden("where is the bearer token validated", "tokens.py", "auth/tokens")
    triplets, _ = mine_golden([question], Search(), negatives=1)
    assert [(t.positive_doc_id, t.negative_doc_ids) for t in triplets] == [
        ("acme/auth/tokens.py:40-49", ["acme/auth/views.py:1-10"])
    ]


def test_question_whose_candidates_miss_every_expected_path_is_skipped():
    questions = [
        golden("least recently used eviction", "acme/storage/cache.py"),
        golden("where is the bearer token validated", "acme/auth/tokens.py"),
    ]
    triplets, stats = mine_golden(questions, Search())
    assert [t.query for t in triplets] == ["where is the bearer token validated"]
    assert stats.read == 2
    assert stats.skipped == {"no_positive": 1}


def test_a_golden_triplet_carries_its_chunks_symbols():
    import msgspec

    ranked = [
        msgspec.structs.replace(candidate("acme/auth/tokens.py", 1), symbol="Tokens.validate"),
        candidate("acme/auth/views.py", 2),  # a window: no symbol
        msgspec.structs.replace(candidate("acme/http/retry.py", 3), symbol="retry"),
    ]
    question = golden("where is the bearer token validated", "auth/tokens.py")
    (triplet,), _ = mine_golden([question], lambda q, repo, k: ranked, k=12, negatives=3)
    assert (triplet.positive_symbol, triplet.negative_symbols) == ("Tokens.validate", ["", "retry"])
