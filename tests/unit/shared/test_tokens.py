"""Code-aware BM25 tokens: identifiers split and stemmed, whole names kept, noise dropped."""

from __future__ import annotations

import pytest

from shared.tokens import code_tokens, path_tokens, query_tokens


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("parseHTTPResponse", ["parsehttpresponse", "pars", "http", "respons"]),
        ("HTTPServer", ["httpserver", "http", "server"]),
        ("validate_access_token", ["validateaccesstoken", "valid", "access", "token"]),
        ("MAX_FILE_BYTES", ["maxfilebytes", "max", "file", "byte"]),
        ("__init__", ["init"]),
        ("sha256", ["sha256", "sha", "256"]),
        ("IOError", ["ioerror", "io", "error"]),
        ("getX", ["getx", "get"]),  # the 1-character part only counts in the whole name
    ],
)
def test_identifiers_are_split_on_snake_camel_and_digit_boundaries(text: str, tokens: list[str]) -> None:
    assert code_tokens(text) == tokens


def test_parts_are_stemmed_so_word_forms_match() -> None:
    assert code_tokens("validated validation validates validate") == ["valid"] * 4


def test_whole_identifier_is_kept_unstemmed_and_spelling_convention_does_not_matter() -> None:
    assert (
        code_tokens("validateToken") == code_tokens("validate_token") == ["validatetoken", "valid", "token"]
    )


def test_stop_words_and_single_characters_are_dropped() -> None:
    assert code_tokens("def f(self, x): return None if x is not None else self.y") == []
    assert code_tokens("import os\nfrom a import b as c") == ["os"]


def test_meaningful_words_survive_the_stop_list() -> None:
    assert code_tokens("auth token user request") == ["auth", "token", "user", "request"]


def test_repetition_is_preserved_for_term_frequency() -> None:
    assert code_tokens("token = token.strip(); token") == ["token", "token", "strip", "token"]


def test_long_runs_of_word_characters_are_data_not_identifiers() -> None:
    assert code_tokens("key = 'a" + "b3" * 40 + "'") == ["key"]


def test_a_question_and_the_code_it_asks_about_share_tokens() -> None:
    question = query_tokens("Where is the OAuth token validated?")
    assert question == ["oauth", "auth", "token", "valid"]
    snake = code_tokens("def validate_oauth_token(self, token: str) -> Claims:")
    assert set(question) & set(snake) == {"oauth", "token", "valid"}
    camel = code_tokens("function validateOAuthToken(token) {")
    assert set(question) & set(camel) == {"auth", "token", "valid"}
    assert "validateoauthtoken" in query_tokens("validate_oauth_token") and "validateoauthtoken" in camel


def test_query_tokens_is_the_document_pipeline() -> None:
    text = "class LRUCache: def get_or_compute(self, key)"
    assert query_tokens(text) == code_tokens(text)


@pytest.mark.parametrize(
    ("path", "tokens"),
    [
        ("services/search/chunking.py", ["servic", "search", "chunk", "py"]),
        ("web/src/components/SearchBox.jsx", ["web", "src", "compon", "searchbox", "search", "box", "jsx"]),
        ("acme/auth/test_tokens.py", ["acm", "auth", "testtokens", "test", "token", "py"]),
        ("deploy-scripts/run.sh", ["deploy", "script", "run", "sh"]),
    ],
)
def test_path_tokens(path: str, tokens: list[str]) -> None:
    assert path_tokens(path) == tokens
