"""The extractive answer: lines of the top results that match the question, per file, each cited."""

from __future__ import annotations

from services.gateway.mcp.extractive import extract, render
from tests.unit.gateway.mcp.hits import CLAIMS, PASSWORDS, TOKENS, file_lines, hit


def cited_lines(citations) -> set[tuple[str, int]]:
    return {(c["path"], n) for c in citations for n in range(c["start_line"], c["end_line"] + 1)}


def test_each_citation_is_the_real_lines_of_a_result_it_names():
    hits = [TOKENS, PASSWORDS, CLAIMS]
    result = extract("where is the token signature compared", hits)
    assert result.matched and result.citations
    by_doc = {h["doc_id"]: h for h in hits}
    for c in result.citations:
        source = by_doc[c["doc_id"]]
        assert c["path"] == source["path"] and c["repo"] == source["repo"]
        assert source["start_line"] <= c["start_line"] <= c["end_line"] <= source["end_line"]
        assert c["cite"] == f"{c['path']}:{c['start_line']}-{c['end_line']}"
        assert c["text"] == file_lines(c["path"], c["start_line"], c["end_line"])


def test_the_lines_that_match_best_are_chosen_with_their_context_and_nothing_weak():
    result = extract("where is the token signature compared", [TOKENS, PASSWORDS, CLAIMS])
    lines = cited_lines(result.citations)
    assert ("acme/auth/tokens.py", 50) in lines  # if not hmac.compare_digest(expected, _b64decode(signature))
    assert ("acme/auth/tokens.py", 49) in lines and ("acme/auth/tokens.py", 51) in lines  # context
    assert ("acme/auth/tokens.py", 40) in lines  # the function's signature
    # passwords.py compares digests too, but never mentions a token or a signature
    assert not any(path == "acme/auth/passwords.py" for path, _ in lines)


def test_an_identifier_in_the_question_finds_the_line_that_defines_it():
    result = extract("what does validateAccessToken return", [PASSWORDS, TOKENS])
    assert ("acme/auth/tokens.py", 40) in cited_lines(result.citations)


def test_passages_are_grouped_per_file_in_file_order_best_file_first():
    # tokens.py is the best result; its lower-ranked chunk (lines 19-33) still comes first in the file
    hits = [TOKENS, PASSWORDS, CLAIMS]
    citations = extract("which token error is raised when a password or token check fails", hits).citations
    paths = [c["path"] for c in citations]
    assert paths[0] == "acme/auth/tokens.py"
    groups = [p for i, p in enumerate(paths) if i == 0 or paths[i - 1] != p]
    assert len(groups) == len(set(groups)), f"a file's passages are not together: {paths}"
    for path in set(paths):
        starts = [c["start_line"] for c in citations if c["path"] == path]
        assert starts == sorted(starts)
    assert {c["doc_id"] for c in citations if c["start_line"] < 40} <= {CLAIMS["doc_id"]}


def test_overlapping_results_do_not_cite_a_passage_twice():
    overlapping = hit("acme/auth/tokens.py", 45, 57, 0.8)
    citations = extract("bad signature", [TOKENS, overlapping]).citations
    spans = [(c["start_line"], c["end_line"]) for c in citations]
    for a in spans:
        assert not any(b != a and b[0] <= a[0] and a[1] <= b[1] for b in spans), spans


def test_the_answer_stays_within_its_line_budget():
    citations = extract("token", [TOKENS, CLAIMS, PASSWORDS], max_lines=5).citations
    assert citations
    assert sum(c["end_line"] - c["start_line"] + 1 for c in citations) <= 5


def test_with_no_matching_line_the_start_of_the_best_result_is_cited():
    result = extract("zebra quokka", [PASSWORDS, TOKENS])
    assert not result.matched
    assert result.citations and {c["doc_id"] for c in result.citations} == {PASSWORDS["doc_id"]}
    assert result.citations[0]["start_line"] == PASSWORDS["start_line"]


def test_the_text_names_each_file_once_and_shows_each_citation_with_its_lines():
    hits = [TOKENS, PASSWORDS, CLAIMS]
    citations = extract("where is the token signature or the password hash checked", hits).citations
    text = render(citations, hits)
    for c in citations:
        assert f"{c['cite']}\n```python\n{c['text']}\n```" in text
    for path in {c["path"] for c in citations}:
        assert text.count(f"## {path} (sample)") == 1
