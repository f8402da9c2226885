"""The checked join and the path rules: a value that would leave its root is refused naming the field."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shared.golden import GoldenError, read_golden
from shared.paths import PathError, child, inside, name_problem, relative_problem, user_file


def test_inside_joins_relative_and_absolute_values_under_the_root(tmp_path: Path):
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    assert inside(root, "a/b.txt", "f") == root.resolve() / "a" / "b.txt"
    assert inside(root, str(root / "a"), "f") == root.resolve() / "a"
    assert inside(root, "a/../a/./c", "f") == root.resolve() / "a" / "c"  # `..` that stays inside
    os.symlink(root / "a", root / "link")
    assert inside(root, "link/x", "f") == root.resolve() / "a" / "x"


@pytest.mark.parametrize("value", ["../x", "a/../../x", "/etc/passwd", "escape/x", "", " ", "a\x00b", "a\nb"])
def test_inside_refuses_what_leaves_the_root_or_names_nothing(tmp_path: Path, value: str):
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(tmp_path, root / "escape")
    with pytest.raises(PathError, match=r"^golden: ") as caught:
        inside(root, value, "golden")
    assert caught.value.field == "golden"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("src/a.py", None),
        ("a/./b..c/d", None),  # ".." inside a name is no parent step
        ("../a", "climbs out of its root with '..'"),
        ("a/../../b", "climbs out of its root with '..'"),
        ("a\\..\\..\\b", "climbs out of its root with '..'"),
        ("/etc/passwd", "is an absolute path; a path relative to its root is expected"),
        ("C:\\Windows", "is an absolute path; a path relative to its root is expected"),
        ("C:/Windows", "is an absolute path; a path relative to its root is expected"),
        ("a:b.py", None),  # a colon in a file name is no drive
        ("a\x00b", "contains a NUL byte"),
        ("a\x1bb", "contains a control character"),
        ("", "is empty"),
    ],
)
def test_relative_problem(value: str, reason: str | None):
    assert relative_problem(value) == reason


def test_user_file_takes_a_regular_file_under_the_size_limit(tmp_path: Path, monkeypatch):
    path = tmp_path / "golden.json"
    path.write_text("[]")
    assert user_file(str(path), "golden", max_bytes=2) == path
    monkeypatch.chdir(tmp_path)
    assert user_file("golden.json", "golden", max_bytes=2) == Path("golden.json")
    with pytest.raises(PathError, match=r"^golden: .* is 2 bytes, over the limit of 1$"):
        user_file(str(path), "golden", max_bytes=1)


def test_user_file_refuses_what_is_not_a_regular_file(tmp_path: Path, monkeypatch):
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    cases = {
        "/dev/zero": "is not a regular file",  # reading it would never end
        str(tmp_path / "pipe"): "is not a regular file",  # opening it would block
        str(tmp_path): "is not a regular file",
        str(tmp_path / "missing.json"): "cannot read .*: no such file",
        "../pipe": "climbs out of the working directory with '..'",
        "bad\x00.json": "contains a NUL byte",
    }
    for value, reason in cases.items():
        with pytest.raises(PathError, match=rf"^golden: .*{reason}"):
            user_file(value, "golden", max_bytes=1 << 20)


def test_a_golden_file_is_checked_before_it_is_read(tmp_path: Path):
    with pytest.raises(GoldenError, match=r"^golden: /dev/zero is not a regular file$"):
        read_golden(Path("/dev/zero"))


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("cross-encoder-codesift-20260101-120000", None),
        ("../x", "contains a path separator"),
        ("a/b", "contains a path separator"),
        ("a\\b", "contains a path separator"),
        ("..", "starts with a dot"),
        (".tmp-staging", "starts with a dot"),
        ("v\x00", "contains a NUL byte"),
        ("v" * 256, "is 256 characters long, over 255"),
    ],
)
def test_name_problem(value: str, reason: str | None):
    found = name_problem(value)
    assert (found is None) if reason is None else (found is not None and found.startswith(reason))


def test_child_joins_a_plain_name_and_refuses_anything_else(tmp_path: Path):
    assert child(tmp_path, "v1.abc", "version") == tmp_path / "v1.abc"
    with pytest.raises(PathError, match=r"^version: '\.\./\.\./etc' contains a path separator"):
        child(tmp_path, "../../etc", "version")
