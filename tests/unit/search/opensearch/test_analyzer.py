"""The OpenSearch analyzer reproduces codesift's code-aware tokens (shared.tokens.code_tokens).

Run here through a Python emulation of each Lucene filter (analyzer_emulation.py); where a
Docker engine exists, tests/contract/test_backends.py asks a real OpenSearch `_analyze` too.
"""

from collections import Counter
from pathlib import Path

import pytest

from shared.tokens import code_tokens
from tests.unit.search.opensearch.analyzer_emulation import analyze

ROOT = Path(__file__).resolve().parents[4]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("parseHTTPResponse", ["parsehttpresponse", "pars", "http", "respons"]),
        ("parse_http_response", ["parsehttpresponse", "pars", "http", "respons"]),
        ("validate_token", ["validatetoken", "valid", "token"]),
        ("validateToken(token)", ["validatetoken", "valid", "token", "token"]),
        ("__init__ self.x = None", ["init"]),  # edge underscores, stop words, one-letter parts
        ("sha256 x2", ["sha256", "sha", "256", "x2"]),
        ("where is the OAuth token validated", ["oauth", "auth", "token", "valid"]),
    ],
)
def test_identifiers_give_their_whole_and_their_stemmed_parts(text, expected):
    assert Counter(analyze(text)) == Counter(expected) == Counter(code_tokens(text))


def test_the_analyzer_tokenizes_this_repository_as_code_tokens_does():
    """Every Python and Markdown file here: the same multiset of tokens, file by file."""
    files = sorted(ROOT.glob("services/**/*.py")) + sorted(ROOT.glob("shared/*.py")) + [ROOT / "README.md"]
    assert len(files) > 50
    differing = [p for p in files if Counter(analyze(t := p.read_text())) != Counter(code_tokens(t))]
    assert differing == []


def test_non_ascii_words_are_one_part_as_in_code_tokens():
    for text in ["naïve approach", "größe_berechnen", "café2 données"]:
        assert Counter(analyze(text)) == Counter(code_tokens(text)), text
