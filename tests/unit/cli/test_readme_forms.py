"""Every `codesift` command line the README shows is one that works, typed as it is shown.

Each line of a ```sh block that runs `codesift` is expanded twice, with every optional part and
with none, placeholders filled in. Each form must parse; `--data-dir` must mean the same before
and after the command's name; and each form except `up` is run for real with no stack: it must get
as far as looking for the stack (not stop at a usage error). `up` in that form starts every
integration test's stack (`tests/integration/stack.py`).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from codesift.cli import parse_args

ROOT = Path(__file__).resolve().parents[3]
SAMPLE_REPO = ROOT / "tests" / "fixtures" / "sample_repo"
PLACEHOLDERS = {
    "PATH": str(SAMPLE_REPO),
    "NAME": "sample",
    "NAME=PATH": f"sample={SAMPLE_REPO}",
    "FILE": str(ROOT / "golden.json"),
    "N": "2",
    "X": "3e-5",
    "S": "60",
    "PATH|VERSION": "cross-encoder-codesift-20260101-000000",
    "PORT": "8765",
}


def readme_lines() -> list[str]:
    """The command lines of the README's sh blocks that run codesift, comments removed."""
    lines, in_sh = [], False
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("```"):
            in_sh = line.strip() == "```sh"
            continue
        command = line.split("  #")[0].strip()
        if in_sh and re.match(r"(\.venv/bin/)?codesift\s", command):
            lines.append(command.removeprefix(".venv/bin/"))
    return lines


def expand(line: str, optional: bool, data_dir: Path) -> list[str]:
    """argv after `codesift`: every [optional part] kept (brackets dropped) or dropped entirely."""
    words, depth = [], 0
    for token in shlex.split(line)[1:]:
        opening = depth > 0 or token.startswith("[")
        depth += token.count("[") - token.count("]")
        if not optional and (opening or depth > 0):
            continue
        word = token.replace("[", "").replace("]", "")
        if word == "...":
            continue
        word = PLACEHOLDERS.get(word, word)
        if "|" in word and word not in PLACEHOLDERS.values():
            word = word.split("|")[0]  # a choice: its first value
        words.append(str(data_dir) if word == "DIR" else word)
    return words


FORMS = [(line, optional) for line in readme_lines() for optional in (True, False)]


def test_the_readme_shows_every_command():
    shown = {shlex.split(line)[1] for line in readme_lines()}
    assert shown >= {"up", "index", "search", "eval", "status", "mine", "train", "promote", "rollback"}
    assert shown >= {"info", "logs", "mcp"}
    assert any("--data-dir DIR" in line for line in readme_lines())


@pytest.mark.parametrize(("line", "optional"), FORMS)
def test_each_form_parses_and_data_dir_means_the_same_before_or_after_the_command(line, optional, tmp_path):
    argv = expand(line, optional, tmp_path)
    shown = parse_args(argv)
    bare = [w for i, w in enumerate(argv) if w != "--data-dir" and (i == 0 or argv[i - 1] != "--data-dir")]
    before = parse_args(["--data-dir", str(tmp_path), *bare])
    after = parse_args([*bare, "--data-dir", str(tmp_path)])
    assert vars(before) == vars(after)
    assert before.data_dir == after.data_dir == tmp_path
    if "--data-dir" in argv:
        assert vars(shown) == vars(after)
    else:
        assert shown.data_dir is None


def test_data_dir_after_the_command_wins_over_the_one_before(tmp_path):
    args = parse_args(["--data-dir", str(tmp_path / "a"), "status", "--data-dir", str(tmp_path / "b")])
    assert args.data_dir == tmp_path / "b"
    assert parse_args(["--data-dir", str(tmp_path / "a"), "status"]).data_dir == tmp_path / "a"


@pytest.mark.parametrize(
    ("line", "optional"), [(line, optional) for line, optional in FORMS if shlex.split(line)[1] != "up"]
)
def test_each_form_runs_as_typed_and_asks_for_a_stack(line, optional, tmp_path):
    argv = expand(line, optional, tmp_path)
    if "--data-dir" not in argv:
        argv += ["--data-dir", str(tmp_path)]
    env = {k: v for k, v in os.environ.items() if k != "CODESIFT_NATS_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "codesift.cli", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )
    assert done.returncode == 1, done.stderr
    assert "No codesift stack is running" in done.stderr and f"--data-dir {tmp_path}" in done.stderr
