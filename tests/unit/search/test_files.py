"""The repository walker: what it indexes, what it skips, and the language it assigns."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from services.search.files import detect_language, walk_repository

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "sample_repo"


def write(root: Path, rel: str, content: str | bytes = "print('hi')\n") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def paths(root: Path, **kwargs: int) -> list[str]:
    return [f.path for f in walk_repository(root, **kwargs)]


def test_gitignore_patterns_at_every_level(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "*.log\n!important.log\nout/\n/top.txt\ndocs/**/draft.md\n")
    write(tmp_path, "src/.gitignore", "secret.py\n!debug.log\n")
    for rel in [
        "a.py",
        "debug.log",  # *.log
        "important.log",  # re-included by !important.log
        "out/x.py",  # out/ matches the directory
        "src/out",  # ... but not a file called out
        "top.txt",  # /top.txt is anchored to the root
        "src/top.txt",
        "docs/draft.md",  # ** matches no directory too
        "docs/a/b/draft.md",
        "docs/final.md",
        "secret.py",  # src/.gitignore does not reach the root
        "src/secret.py",
        "src/debug.log",  # the deeper .gitignore's negation wins
        "src/deeper/secret.py",  # a nested .gitignore applies below its directory
    ]:
        write(tmp_path, rel, "x = 1\n")
    assert paths(tmp_path) == [
        "a.py",
        "docs/final.md",
        "important.log",
        "secret.py",
        "src/debug.log",
        "src/out",
        "src/top.txt",
    ]


def test_negation_cannot_reinclude_a_file_in_an_ignored_directory(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "generated/\n!generated/keep.py\n")
    write(tmp_path, "generated/keep.py")
    write(tmp_path, "main.py")
    assert paths(tmp_path) == ["main.py"]


def test_git_info_exclude_is_honoured(tmp_path: Path) -> None:
    write(tmp_path, ".git/info/exclude", "local_notes.py\n")
    write(tmp_path, "local_notes.py")
    write(tmp_path, "app.py")
    assert paths(tmp_path) == ["app.py"]


@pytest.mark.parametrize(
    "rel",
    [
        ".git/config.py",
        "node_modules/react/index.js",
        "vendor/lib.go",
        "third_party/x.c",
        ".venv/lib/site.py",
        "venv/bin/activate.py",
        "pkg/__pycache__/m.py",
        "acme.egg-info/top_level.txt",
        "build/lib/acme.py",
        "dist/bundle.js",
        "target/debug/main.rs",
        "web/.next/server.js",
        "htmlcov/index.html",
        ".idea/workspace.xml",
        ".mypy_cache/x.json",
        "site-packages/requests/api.py",
    ],
)
def test_vendored_and_generated_directories_are_skipped(tmp_path: Path, rel: str) -> None:
    write(tmp_path, rel, "code = 1\n")
    write(tmp_path, "keep.py")
    assert paths(tmp_path) == ["keep.py"]


@pytest.mark.parametrize(
    ("rel", "content"),
    [
        ("data.txt", b"header\x00\x01\x02binary"),  # NUL byte
        ("latin1.txt", "café".encode("latin-1")),  # not UTF-8
        ("logo.png", b"looks like text but is an image by name\n"),
        ("fonts/a.woff2", b"text"),
        ("model.onnx", b"text"),
        ("lib.so", b"text"),
        ("package-lock.json", '{"lockfileVersion": 3}\n'),
        ("yarn.lock", "# yarn lockfile v1\n"),
        ("Cargo.lock", "version = 3\n"),
        ("poetry.lock", "[[package]]\n"),
        ("uv.lock", "version = 1\n"),
        ("Gemfile.lock", "GEM\n"),
        ("app.min.js", "var a=1;\n"),
        ("theme.min.css", "a{b:c}\n"),
        ("app.js.map", '{"version":3}\n'),
        ("bundle.js", "var a=1;" * 300),  # one 2,400-character line: minified
        ("empty.py", ""),
        ("blank.py", "  \n\n\t\n"),
    ],
)
def test_binary_lock_minified_and_empty_files_are_skipped(
    tmp_path: Path, rel: str, content: str | bytes
) -> None:
    write(tmp_path, rel, content)
    write(tmp_path, "keep.py")
    assert paths(tmp_path) == ["keep.py"]


def test_long_lines_are_fine_in_prose(tmp_path: Path) -> None:
    write(tmp_path, "README.md", ("An unwrapped paragraph of prose. " * 40 + "\n\n") * 3)
    assert paths(tmp_path) == ["README.md"]


def test_files_over_the_size_limit_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, "exact.py", "x" * 99 + "\n")
    write(tmp_path, "over.py", "x" * 100 + "\n")
    assert paths(tmp_path, max_file_bytes=100) == ["exact.py"]


def test_symlinks_are_not_followed_outside_the_root(tmp_path: Path) -> None:
    root, outside = tmp_path / "repo", tmp_path / "outside"
    write(outside, "secret.py")
    write(root, "real/inner.py")
    os.symlink(outside / "secret.py", root / "leak.py")
    os.symlink(outside, root / "leakdir")
    os.symlink(root / "real" / "inner.py", root / "alias.py")
    os.symlink(root / "real", root / "loop")
    assert paths(root) == ["alias.py", "real/inner.py"]


def test_paths_are_relative_posix_and_in_sorted_order(tmp_path: Path) -> None:
    for rel in ["b.py", "a/z.py", "a.py", "a/b/c.py", "a-b.py", "A.py"]:
        write(tmp_path, rel)
    found = paths(tmp_path)
    assert found == sorted(found) == ["A.py", "a-b.py", "a.py", "a/b/c.py", "a/z.py", "b.py"]


def test_text_is_decoded_with_newlines_normalised(tmp_path: Path) -> None:
    write(tmp_path, "win.py", b"\xef\xbb\xbfx = 1\r\ny = 'caf\xc3\xa9'\r\n")
    (source,) = walk_repository(tmp_path)
    assert (source.path, source.language, source.text) == ("win.py", "python", "x = 1\ny = 'café'\n")


def test_extensionless_scripts_get_their_language_from_the_shebang(tmp_path: Path) -> None:
    write(tmp_path, "bin/serve", "#!/usr/bin/env python3\nprint('serving')\n")
    write(tmp_path, "bin/deploy", "#!/bin/bash\necho deploying\n")
    write(tmp_path, "NOTES", "plain notes\n")
    assert [(f.path, f.language) for f in walk_repository(tmp_path)] == [
        ("NOTES", "text"),
        ("bin/deploy", "shell"),
        ("bin/serve", "python"),
    ]


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("acme/tokens.py", "python"),
        ("types.pyi", "python"),
        ("app.js", "javascript"),
        ("App.jsx", "javascript"),
        ("mod.mjs", "javascript"),
        ("cfg.cjs", "javascript"),
        ("api.ts", "typescript"),
        ("Box.tsx", "typescript"),
        ("README.md", "markdown"),
        ("guide.markdown", "markdown"),
        ("index.rst", "rst"),
        ("main.go", "go"),
        ("Main.java", "java"),
        ("build.gradle.kts", "kotlin"),
        ("lib.rs", "rust"),
        ("util.c", "c"),
        ("util.h", "c"),
        ("engine.cpp", "cpp"),
        ("engine.hpp", "cpp"),
        ("Program.cs", "csharp"),
        ("app.rb", "ruby"),
        ("index.php", "php"),
        ("View.swift", "swift"),
        ("Job.scala", "scala"),
        ("deploy.sh", "shell"),
        ("schema.sql", "sql"),
        ("index.html", "html"),
        ("site.scss", "css"),
        ("ci.yml", "yaml"),
        ("pyproject.toml", "toml"),
        ("package.json", "json"),
        ("setup.cfg", "ini"),
        ("tox.ini", "ini"),
        ("Dockerfile", "dockerfile"),
        ("docker/Dockerfile.dev", "dockerfile"),
        ("Makefile", "makefile"),
        ("notes.txt", "text"),
        ("LICENSE", "text"),
        ("data.unknownext", "text"),
    ],
)
def test_detect_language(path: str, language: str) -> None:
    assert detect_language(path) == language


def test_fixture_repository() -> None:
    found = {f.path: f.language for f in walk_repository(FIXTURE)}
    assert "static/logo.png" not in found and ".gitignore" not in found
    assert found["acme/auth/tokens.py"] == "python"
    assert found["web/src/api/client.ts"] == "typescript"
    assert found["web/src/components/SearchBox.jsx"] == "javascript"
    assert found["docs/architecture.rst"] == "rst"
    assert found["README.md"] == "markdown"
    assert found["scripts/deploy.sh"] == "shell"
    assert found["Dockerfile"] == "dockerfile"


def test_codesiftignore_leaves_out_files_git_keeps(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "code.py").write_text("def f():\n    return 1\n")
    (tmp_path / "questions.json").write_text('[{"q": "where is f"}]\n')
    (tmp_path / "pkg" / "notes.md").write_text("# Notes\n\nabout f\n")
    (tmp_path / ".codesiftignore").write_text("questions.json\n")
    (tmp_path / "pkg" / ".codesiftignore").write_text("*.md\n")
    paths = [f.path for f in walk_repository(tmp_path)]
    assert paths == ["pkg/code.py"]


def test_links_leading_out_of_the_root_are_skipped_counted_and_never_read(tmp_path: Path) -> None:
    root, outside = tmp_path / "repo", tmp_path / "outside"
    write(outside, "secret.py", "TOKEN = 'do not index me'\n")
    write(root, "real/inner.py")
    os.symlink(outside / "secret.py", root / "leak.py")
    os.symlink("../../outside/secret.py", root / "real" / "relative_leak.py")
    os.symlink("/etc/passwd", root / "passwd.txt")
    os.symlink(root / "nowhere.py", root / "dangling.py")
    os.symlink(root / "real" / "inner.py", root / "alias.py")  # inside: read
    skipped: Counter[str] = Counter()
    found = [f.path for f in walk_repository(root, skipped=skipped)]
    assert found == ["alias.py", "real/inner.py"]
    assert skipped == {"link_outside": 4}


def test_an_absolute_root_reached_through_a_link_is_the_repository_itself(tmp_path: Path) -> None:
    write(tmp_path / "repo", "a.py")
    os.symlink(tmp_path / "repo", tmp_path / "current")
    skipped: Counter[str] = Counter()
    assert [f.path for f in walk_repository(tmp_path / "current", skipped=skipped)] == ["a.py"]
    assert not skipped


def test_past_max_files_the_rest_is_counted_not_opened(tmp_path: Path) -> None:
    for i in range(25):
        write(tmp_path, f"pkg/m{i:02}.py")
    write(tmp_path, "big.py", "x = 1\n" * 100)
    skipped: Counter[str] = Counter()
    found = [f.path for f in walk_repository(tmp_path, max_file_bytes=100, max_files=10, skipped=skipped)]
    assert found == [f"pkg/m{i:02}.py" for i in range(9)]  # big.py came first: opened, too large
    assert skipped == {"too_large": 1, "over_max_files": 16}


def test_a_fifo_is_never_opened(tmp_path: Path) -> None:
    write(tmp_path, "a.py")
    os.mkfifo(tmp_path / "pipe.py")  # opening it for reading would block the walk forever
    os.symlink(tmp_path / "pipe.py", tmp_path / "link_to_pipe.py")
    assert paths(tmp_path) == ["a.py"]
