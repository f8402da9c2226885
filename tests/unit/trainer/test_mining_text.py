import hashlib

import pytest

from services.trainer.mining.documentation import Documentation, cut, find_documentation
from services.trainer.mining.queries import name_query, query_problem, summary
from services.trainer.mining.text import normalise, split_identifier, stable_hash
from shared.filekinds import file_kind


def test_normalise_folds_case_punctuation_and_spacing():
    assert normalise("  Where is the OAuth   token?\n") == "where is the oauth token"
    assert normalise("parse_http_response()") == "parse http response"
    assert normalise("ＡＰＩ client") == "api client"  # NFKC


def test_split_identifier():
    assert split_identifier("parseHTTPResponse") == ["parse", "http", "response"]
    assert split_identifier("parse_http_response") == ["parse", "http", "response"]
    assert split_identifier("LruCache.getV2") == ["lru", "cache", "get", "v", "2"]
    assert split_identifier("grüßeSagen_jetzt") == ["grüssesagen", "jetzt"]  # not ASCII: whole, case folded


def test_stable_hash_is_sha1_of_salt_and_normalised_text():
    assert stable_hash("Where is X?", "s") == stable_hash("where is x", "s")
    assert stable_hash("Where is X?", "s") == hashlib.sha1(b"s\x00where is x").hexdigest()


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("acme/auth/tokens.py", "source"),
        ("acme/history.py", "source"),  # a module named like a changelog is still code
        ("scripts/deploy.sh", "source"),
        ("tests/unit/test_tokens.py", "test"),
        ("acme/test_tokens.py", "test"),
        ("acme/tokens_test.py", "test"),
        ("pkg/server_test.go", "test"),
        ("web/src/api/client.spec.ts", "test"),
        ("web/src/App.test.jsx", "test"),
        ("src/main/java/CacheTest.java", "test"),
        ("conftest.py", "test"),
        ("docs/deployment.md", "docs"),
        ("README.md", "docs"),
        ("LICENSE", "docs"),
        ("docs/conf.py", "docs"),
        ("CHANGELOG.md", "changelog"),
        ("HISTORY.rst", "changelog"),
        ("changelog.d/123.feature", "changelog"),
        ("examples/quickstart.py", "example"),
        ("config/settings.yaml", "config"),
        ("pyproject.toml", "config"),
        ("Dockerfile", "config"),
        ("web/vite.config.ts", "config"),
        ("setup.py", "config"),
        ("api/service_pb2.py", "generated"),
        ("app/migrations/0001_initial.py", "generated"),
    ],
)
def test_file_kind(path, kind):
    assert file_kind(path) == kind


PYTHON = '''# Cache helpers.
@decorator
def evict(self, key):
    """Drop the least recently used entry.

    More text.
    """
    return self.items.pop(key)'''


def test_python_docstring_first_then_leading_comment():
    docstring, comment = find_documentation(PYTHON, "python")
    assert docstring == Documentation("docstring", "Drop the least recently used entry.\n\nMore text.", 3, 6)
    assert comment == Documentation("comment", "Cache helpers.", 0, 0)
    assert (
        cut(PYTHON, docstring)
        == "# Cache helpers.\n@decorator\ndef evict(self, key):\n    return self.items.pop(key)"
    )


def test_python_docstring_of_a_window_that_does_not_parse():
    window = '    def load(self,\n             path):\n        """Read the file."""\n        data = (1,'
    assert find_documentation(window, "python") == [Documentation("docstring", "Read the file.", 2, 2)]


def test_a_later_window_gives_no_docstring_and_one_sharing_a_line_cannot_be_cut():
    assert (
        find_documentation('        x = 1\n        def f():\n            """Doc."""\n        y = (', "python")
        == []
    )
    assert find_documentation('def f(): """Inline doc."""', "python") == []


def test_block_and_line_comments_of_brace_languages():
    jsdoc = "/**\n * Send a request.\n * @param url where\n */\nfunction send(url) {\n  return fetch(url);\n}"
    assert find_documentation(jsdoc, "javascript") == [
        Documentation("docstring", "Send a request.\n@param url where", 0, 3)
    ]
    go = "// Send retries the request.\n// It never panics.\nfunc Send() {\n}"
    assert find_documentation(go, "go") == [
        Documentation("comment", "Send retries the request.\nIt never panics.", 0, 1)
    ]
    rust = "/// Parse a header line.\nfn parse() {}"
    assert find_documentation(rust, "rust") == [Documentation("docstring", "Parse a header line.", 0, 0)]
    assert find_documentation("/* note */ int x = f();\nint y;", "c") == []  # code after it
    assert find_documentation("#include <stdio.h>\nint main() {}", "c") == []  # not a comment in C


def test_summary_takes_the_first_sentence_without_markup_or_sections():
    assert summary("Hash a password with :func:`~crypto.scrypt`. Slow on purpose.\n\nArgs:\n  p: it") == (
        "Hash a password with crypto.scrypt"
    )
    assert summary("Send a request with {@link Client}\nand retry it.\n@param url where") == (
        "Send a request with Client and retry it"
    )
    assert summary("Create :class:`Auth` wrapped in\n:class:`Define <mw.Define>`.\n:param x: it") == (
        "Create Auth wrapped in Define"
    )
    assert summary("Parameters\n----------\nx : int") == ""
    assert summary("Compute totals, e.g. taxes and fees.") == "Compute totals, e.g. taxes and fees"


def test_name_query_only_for_descriptive_names():
    assert name_query("parse_http_response") == "parse http response"
    assert name_query("Client.parseHttpResponse") == "parse http response"
    assert name_query("get_user") is None
    assert name_query("__init_subclass_hook__") is None


@pytest.mark.parametrize(
    ("query", "symbol", "problem"),
    [
        ("Hash a password with a random salt", "hash_password", None),
        ("Parse it", "parse", "short_query"),
        ("Get the user", "get_user", "restates_name"),
        ("Returns the users", "UserStore.get_user", "restates_name"),
        ("Parse an HTTP response", "parse_http_response", "restates_name"),
        ("TODO make this faster", "compact", "boilerplate"),
        ("Auto-generated by protoc, do not edit", "Message", "boilerplate"),
    ],
)
def test_query_problem(query, symbol, problem):
    assert query_problem(query, symbol) == problem
