"""Chunking: definitions for code, sections for docs, windows for the rest, with exact line ranges."""

from __future__ import annotations

import time
from pathlib import Path

from services.search.chunkers.spans import MAX_CHUNK_CHARS
from services.search.chunking import chunk_file
from services.search.documents import Chunk, SourceFile
from services.search.files import walk_repository

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "sample_repo"
KINDS = {"function", "class", "method", "module", "doc_section", "window"}


def chunk(text: str, language: str, path: str = "f") -> list[Chunk]:
    chunks = chunk_file(SourceFile(path, language, text))
    lines = text.split("\n")
    for c in chunks:  # what every chunker promises
        assert c.text == "\n".join(lines[c.start_line - 1 : c.end_line])
        assert c.text.strip() and c.text == c.text.strip("\n")
        assert c.kind in KINDS and (c.path, c.language) == (path, language)
    return chunks


def spans(text: str, language: str) -> list[tuple[int, int, str, str]]:
    return [(c.start_line, c.end_line, c.kind, c.symbol) for c in chunk(text, language)]


PYTHON = '''\
"""Module docstring."""

import os
import sys

LIMIT = 10


# Checks the limit.
@cache
@trace(level=2)
def check(value):
    """Return whether value is under the limit."""

    def inner(x):
        return x < LIMIT

    return inner(value)


class Small:
    """A small class."""

    size = 1

    def grow(self):
        self.size += 1


if __name__ == "__main__":
    print(check(3))
'''


def test_python_functions_classes_and_module_code() -> None:
    assert spans(PYTHON, "python") == [
        (1, 6, "module", ""),  # docstring, imports and constant in one chunk
        (9, 18, "function", "check"),  # from the comment and decorators above; the nested function inside
        (21, 27, "class", "Small"),
        (30, 31, "module", ""),
    ]
    check = chunk(PYTHON, "python")[1]
    assert check.text.startswith("# Checks the limit.\n@cache\n@trace(level=2)\ndef check(value):\n")
    assert '"""Return whether value is under the limit."""' in check.text


def large_class() -> str:
    methods = "".join(f"    @staticmethod\n    def m{i}():\n        return {i}\n\n" for i in range(15))
    return (
        "class Store:\n"
        '    """Keeps things."""\n'
        "\n"
        "    limit = 5\n"
        '    name: str = "store"\n'
        "\n" + methods + "    alias = m0\n"
    )


def test_a_large_python_class_is_split_into_header_and_methods() -> None:
    source = large_class()
    assert source.count("\n") == 67
    assert spans(source, "python") == [
        (1, 5, "class", "Store"),  # class line, docstring, attributes
        *[(7 + 4 * i, 9 + 4 * i, "method", f"Store.m{i}") for i in range(15)],  # decorators included
        (67, 67, "class", "Store"),  # code after the methods stays with the class
    ]


def test_python_method_keeps_the_comment_right_above_it() -> None:
    source = large_class().replace(
        "    @staticmethod\n    def m3", "    # The fourth.\n    @staticmethod\n    def m3", 1
    )
    by_symbol = {c.symbol: c for c in chunk(source, "python")}
    assert by_symbol["Store.m3"].text.splitlines()[0] == "    # The fourth."
    assert (by_symbol["Store.m3"].start_line, by_symbol["Store.m2"].end_line) == (19, 17)


def test_python_syntax_error_falls_back_to_windows() -> None:
    source = "def broken(:\n" + "".join(f"x{i} = {i}\n" for i in range(50))
    assert spans(source, "python") == [(1, 40, "window", ""), (31, 51, "window", "")]


def test_python_with_lone_carriage_returns_falls_back_to_windows() -> None:
    # ast would count "\r" as a line break where the chunk text does not
    assert spans("x = 1\ry = 2\ndef f():\n    return x\n", "python") == [(1, 3, "window", "")]


def test_an_oversized_function_is_split_into_overlapping_windows_that_keep_its_symbol() -> None:
    source = "def big():\n" + "".join(f"    v{i} = {i}\n" for i in range(100))
    assert spans(source, "python") == [(1, 60, "function", "big"), (46, 101, "function", "big")]


def test_plain_text_is_windowed_with_overlap() -> None:
    source = "".join(f"line {i}\n" for i in range(1, 101))
    assert spans(source, "yaml") == [(1, 40, "window", ""), (31, 70, "window", ""), (61, 100, "window", "")]


def test_a_short_last_window_is_folded_into_the_previous_one() -> None:
    source = "".join(f"line {i}\n" for i in range(1, 46))
    assert spans(source, "text") == [(1, 45, "window", "")]


def test_blank_edges_are_trimmed_and_blank_chunks_dropped() -> None:
    assert spans("a\n" + "\n" * 100 + "b\n", "text") == [(1, 1, "window", ""), (102, 102, "window", "")]
    assert chunk("", "python") == [] and chunk("\n  \n", "text") == []


JAVASCRIPT = """\
import { api } from "./api";

/** Adds two numbers. */
export function add(a, b) {
  const open = "{";             // a brace in a string
  const tpl = `${a} }`;         // and in a template
  const re = /[{]+/g;           // and in a regex
  /* a } in a comment */
  return a + b;
}

export const multiply = (a, b) => {
  return a * b;
};

const square = async x => x * x;

const LIMIT = (1 + 2) * 3;

export default class Cart {
  items = [];

  add(item) {
    this.items.push(item);
  }
}

describe("cart", () => {
  it("adds", () => {});
});
"""


def test_javascript_functions_arrows_and_classes() -> None:
    assert spans(JAVASCRIPT, "javascript") == [
        (1, 1, "module", ""),
        (3, 10, "function", "add"),  # the braces in literals and comments do not end it early
        (12, 14, "function", "multiply"),
        (16, 16, "function", "square"),
        (18, 18, "module", ""),  # parentheses without an arrow: a constant
        (20, 26, "class", "Cart"),
        (28, 30, "module", ""),
    ]


TYPESCRIPT_TYPES = """\
export interface User {
  id: string;
  name?: string;
}

export type Id = string | number;

enum Color {
  Red,
  Green,
}

export namespace Geometry {
  export function area(r: number): number {
    return Math.PI * r * r;
  }
}
"""


def test_typescript_interfaces_types_enums_and_namespaces() -> None:
    assert spans(TYPESCRIPT_TYPES, "typescript") == [
        (1, 4, "class", "User"),
        (6, 6, "class", "Id"),
        (8, 11, "class", "Color"),
        (13, 17, "class", "Geometry"),
    ]


def large_ts_class() -> str:
    methods = "".join(f"  m{i}(): number {{\n    return {i};\n  }}\n\n" for i in range(13))
    return (
        "/** Service docs. */\n"
        "@Injectable()\n"
        "export class Service {\n"
        "  private cache = new Map<string, number>();\n"
        "\n"
        "  constructor(private readonly http: Http) {}\n"
        "\n"
        "  @Memo()\n"
        "  async load(id: string): Promise<number> {\n"
        "    return this.cache.get(id) ?? 0;\n"
        "  }\n"
        "\n" + methods.rstrip("\n") + "\n}\n"
    )


def test_a_large_typescript_class_is_split_per_method() -> None:
    assert spans(large_ts_class(), "typescript") == [
        (1, 4, "class", "Service"),  # doc comment, decorator, class line, field
        (6, 6, "method", "Service.constructor"),
        (8, 11, "method", "Service.load"),  # with its decorator
        *[(13 + 4 * i, 15 + 4 * i, "method", f"Service.m{i}") for i in range(13)],
    ]  # the lone closing brace is no chunk


def test_jsx_text_and_nested_templates_do_not_confuse_the_brace_matcher() -> None:
    source = (
        "export function Hint() {\n"  # 1
        "  const label = `a ${`nested ${'}'}`} b`;\n"
        "  return (\n"
        "    <p>\n"
        "      Don't {label}\n"  # a quote in JSX text
        "      <span>{a}</span>{b && (<i>c</i>)}\n"  # closing tags are not regex literals
        "    </p>\n"
        "  );\n"
        "}\n"  # 9
        "\n"
        "export const ratio = (a, b) => a / b / 2;\n"  # 11: division, not a regex
        "\n"
        "export function after() {\n"  # 13
        "  return 1;\n"
        "}\n"
    )
    assert spans(source, "javascript") == [
        (1, 9, "function", "Hint"),
        (11, 11, "function", "ratio"),
        (13, 15, "function", "after"),
    ]


GO = """\
package server

import "net/http"

// Server answers requests.
type Server struct {
	addr string // "}"
}

func (s *Server) Start() error {
	return http.ListenAndServe(s.addr, nil)
}

func New(addr string) *Server {
	return &Server{addr: addr}
}
"""


def test_go_types_functions_and_methods() -> None:
    assert spans(GO, "go") == [
        (1, 3, "module", ""),
        (5, 8, "class", "Server"),
        (10, 12, "function", "Server.Start"),
        (14, 16, "function", "New"),
    ]


def test_java_class_header_over_several_lines() -> None:
    source = (
        "package acme;\n"
        "\n"
        "import java.util.List;\n"
        "\n"
        "/** Greets people. */\n"
        "public class Greeter\n"
        "    extends Base implements Named\n"
        "{\n"
        "    @Override\n"
        "    public String toString() {\n"
        '        return "Greeter{";\n'
        "    }\n"
        "}\n"
    )
    assert spans(source, "java") == [(1, 3, "module", ""), (5, 13, "class", "Greeter")]


def test_a_large_java_class_is_split_per_method_with_its_annotations() -> None:
    methods = "".join(
        f"    @Override\n    public int m{i}() {{\n        return {i};\n    }}\n\n" for i in range(12)
    )
    source = "public class Big {\n    private int count;\n\n" + methods + "}\n"
    assert spans(source, "java") == [
        (1, 2, "class", "Big"),
        *[(4 + 5 * i, 7 + 5 * i, "method", f"Big.m{i}") for i in range(12)],
    ]


def test_c_directives_typedefs_and_functions() -> None:
    source = (
        "#include <stdio.h>\n"
        "#define SQUARE(x) \\\n"
        "    ((x) * (x))\n"
        "\n"
        "typedef struct {\n"
        "    int x, y;\n"
        "} Point;\n"
        "\n"
        "static int\n"
        "area(Point p)\n"
        "{\n"
        "    return p.x * p.y; /* } */\n"
        "}\n"
    )
    assert spans(source, "c") == [
        (1, 3, "module", ""),
        (5, 7, "class", "Point"),
        (9, 13, "function", "area"),
    ]


def test_a_statement_that_never_ends_does_not_make_chunking_quadratic() -> None:
    source = "".join(f"MACRO_{i}(x)\n" for i in range(20_000))  # C without a single ";"
    started = time.perf_counter()
    chunks = chunk(source, "c")
    assert time.perf_counter() - started < 5  # linear: ~0.1 s; quadratic: minutes
    assert chunks[0].kind == "module" and chunks[-1].end_line == 20_000


MARKDOWN = """\
Intro text before any heading.

# Title

## Install

Run this:

```sh
# not a heading
pip install acme
```

Usage
-----

Call `acme`.
"""


def test_markdown_sections_by_atx_and_setext_headings_outside_code_fences() -> None:
    assert spans(MARKDOWN, "markdown") == [
        (1, 1, "doc_section", ""),
        (3, 12, "doc_section", "Title / Install"),  # a bare title is merged into its first subsection
        (14, 17, "doc_section", "Usage"),
    ]


def test_markdown_front_matter_is_not_a_setext_heading() -> None:
    source = "---\ntitle: Guide\n---\n\n# Guide\n\nText.\n"
    assert spans(source, "markdown") == [(1, 3, "doc_section", ""), (5, 7, "doc_section", "Guide")]


RST = """\
========
Overview
========

Intro.

Usage
-----

Example::

    code
    ----

Notes
~~~~~
Done.
"""


def test_rst_sections_by_underlined_titles() -> None:
    assert spans(RST, "rst") == [
        (1, 5, "doc_section", "Overview"),  # the overline starts the section
        (7, 13, "doc_section", "Usage"),  # an indented literal block holds no title
        (15, 17, "doc_section", "Notes"),
    ]


def test_every_fixture_file_chunks_cleanly() -> None:
    chunks = {}
    for source in walk_repository(FIXTURE):
        lines = source.text.split("\n")
        for c in chunk_file(source):
            assert c.text == "\n".join(lines[c.start_line - 1 : c.end_line]) and c.text.strip()
            chunks[c.doc_id] = c
    assert chunks["acme/auth/tokens.py:40-57"].symbol == "validate_access_token"
    assert chunks["acme/storage/cache.py:54-60"].symbol == "LRUCache.get_or_compute"
    assert chunks["web/src/api/client.ts:19-33"].symbol == "fetchJson"
    assert chunks["web/src/utils/format.js:9-12"].symbol == "slugify"
    assert chunks["docs/architecture.rst:14-20"].symbol == "Caching"
    assert chunks["docs/deployment.md:9-21"].symbol == "Building the image"


def capped_chunks(text: str, language: str) -> list[Chunk]:
    """Chunks of `text`, each checked: at most MAX_CHUNK_CHARS, its lines' text cut at that length."""
    chunks = chunk_file(SourceFile("f", language, text))
    lines = text.split("\n")
    for c in chunks:
        assert len(c.text) <= MAX_CHUNK_CHARS
        assert c.text == "\n".join(lines[c.start_line - 1 : c.end_line])[:MAX_CHUNK_CHARS]
    return chunks


def test_a_single_huge_line_never_becomes_a_huge_chunk():
    line = "word " * 400_000  # 2 MB on one line (a data blob in a text file)
    for language in ("text", "markdown"):
        chunks = capped_chunks(f"# Title\n\n{line}\nafter\n", language)
        assert any((c.start_line, c.end_line) == (3, 3) for c in chunks)  # the long line, cut, on its own
        assert any("after" in c.text for c in chunks)  # what follows the long line is still found


def test_code_with_one_huge_line_among_many_short_ones_is_cut_between_lines():
    body = "\n".join(f"    x{i} = {i}" for i in range(30))
    text = f"def f():\n{body}\n    DATA = '{'a' * 50_000}'\n{body}\n    return x1\n"
    chunks = capped_chunks(text, "python")
    assert {c.symbol for c in chunks} == {"f"}
    assert any("return x1" in c.text for c in chunks) and any("x0 = 0" in c.text for c in chunks)
