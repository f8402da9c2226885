"""Walk a source tree: the files worth indexing, with their language.

Honours every `.gitignore` in the tree (and `.git/info/exclude`) without needing git, and skips
version-control, vendored and generated directories, binaries, lock files, minified bundles,
empty files and files over a size limit. Symbolic links to files inside the root are read;
links to directories are not followed, and a link to anything outside the root is never read.

What a walk leaves out for safety or size is counted in `skipped` when the caller passes a
Counter: link_outside (a link leading out of the root, or nowhere), too_large (over
max_file_bytes), over_max_files (files found after max_files were read, never opened).
"""

from __future__ import annotations

import os
import re
import stat
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pathspec

from services.search.documents import SourceFile

SKIP_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", "node_modules", "vendor", "third_party", "bower_components", ".venv", "venv",
        "env", "site-packages", "__pycache__", ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache",
        "dist", "build", "target", ".next", ".cache", "coverage", "htmlcov", ".idea", ".vscode",
    }
)  # fmt: skip
SKIP_DIR_SUFFIXES = (".egg-info",)
LOCK_FILES = frozenset(
    {"package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "poetry.lock", "Cargo.lock",
     "uv.lock", "go.sum"}
)  # fmt: skip
# .codesiftignore (same syntax as .gitignore) leaves out what git keeps but search should not see.
IGNORE_FILES = (".gitignore", ".codesiftignore")
SKIP_FILES = frozenset(
    {".gitignore", ".codesiftignore", ".gitattributes", ".gitmodules", ".gitkeep"}
)  # VCS plumbing
SKIP_SUFFIXES = (".lock", ".min.js", ".min.css", ".map")
BINARY_EXTENSIONS = frozenset(
    {
        # images
        "png", "jpg", "jpeg", "gif", "bmp", "ico", "icns", "webp", "tif", "tiff", "psd", "svg", "avif",
        # archives and packages
        "zip", "tar", "gz", "tgz", "bz2", "xz", "zst", "7z", "rar", "jar", "war", "whl", "egg", "deb", "rpm",
        # fonts
        "ttf", "otf", "woff", "woff2", "eot",
        # audio and video
        "mp3", "mp4", "wav", "ogg", "flac", "m4a", "aac", "avi", "mov", "mkv", "webm",
        # compiled artefacts and binaries
        "pyc", "pyo", "pyd", "so", "dll", "dylib", "exe", "o", "a", "lib", "obj", "class", "wasm", "bin",
        # documents and data
        "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "db", "sqlite", "sqlite3", "npy", "npz", "pkl",
        "pickle", "parquet", "h5", "onnx", "pt", "pth", "safetensors", "ckpt",
    }
)  # fmt: skip
BINARY_SNIFF_BYTES = 8192
MINIFIED_MIN_BYTES = 1000
MINIFIED_AVERAGE_LINE = 300  # code (not prose) whose lines average more than this is a bundle
PROSE = frozenset({"markdown", "rst", "text"})

EXTENSIONS = {
    "py": "python", "pyi": "python", "pyw": "python",
    "js": "javascript", "jsx": "javascript", "mjs": "javascript", "cjs": "javascript",
    "ts": "typescript", "tsx": "typescript", "mts": "typescript", "cts": "typescript",
    "md": "markdown", "markdown": "markdown", "rst": "rst",
    "go": "go", "java": "java", "kt": "kotlin", "kts": "kotlin", "rs": "rust",
    "c": "c", "h": "c", "cc": "cpp", "cpp": "cpp", "cxx": "cpp", "c++": "cpp", "hh": "cpp", "hpp": "cpp",
    "hxx": "cpp", "cs": "csharp", "rb": "ruby", "php": "php", "swift": "swift", "scala": "scala",
    "sc": "scala", "sh": "shell", "bash": "shell", "zsh": "shell", "sql": "sql", "html": "html",
    "htm": "html", "css": "css", "scss": "css", "sass": "css", "less": "css", "yaml": "yaml",
    "yml": "yaml", "toml": "toml", "json": "json", "jsonc": "json", "ini": "ini", "cfg": "ini",
    "conf": "ini", "dockerfile": "dockerfile", "mk": "makefile", "txt": "text",
}  # fmt: skip
FILENAMES = {
    "dockerfile": "dockerfile", "containerfile": "dockerfile", "makefile": "makefile",
    "gnumakefile": "makefile", "rakefile": "ruby", "gemfile": "ruby", ".bashrc": "shell", ".zshrc": "shell",
    ".profile": "shell", ".editorconfig": "ini", "setup.cfg": "ini", "tox.ini": "ini",
}  # fmt: skip
_SHEBANG = re.compile(r"#!\s*(?:\S*/)?(?:env\s+(?:-\S+\s+)*)?(python|node|bash|zsh|sh|ruby|php)")
_SHEBANG_LANGUAGES = {"python": "python", "node": "javascript", "bash": "shell", "sh": "shell",
                      "zsh": "shell", "ruby": "ruby", "php": "php"}  # fmt: skip


Ignores = list[tuple[str, pathspec.GitIgnoreSpec]]  # (directory prefix, its .gitignore), outermost first


def detect_language(path: str) -> str:
    """Language of a file from its name: python, javascript, typescript, markdown, ..., else text."""
    name = PurePosixPath(path).name.lower()
    if name in FILENAMES:
        return FILENAMES[name]
    if name.startswith(("dockerfile.", "containerfile.")):
        return "dockerfile"
    _, dot, extension = name.rpartition(".")
    return EXTENSIONS.get(extension, "text") if dot else "text"


@dataclass(slots=True)
class _Walk:
    root: Path
    max_bytes: int
    max_files: int | None
    skipped: Counter[str]
    read: int = 0  # files opened so far


def walk_repository(
    root: Path,
    max_file_bytes: int = 1_000_000,
    *,
    max_files: int | None = None,
    skipped: Counter[str] | None = None,
) -> Iterator[SourceFile]:
    """Indexable files under `root`, in path order, with paths relative to it (POSIX separators).

    At most `max_files` files are opened; `skipped` (when given) counts what was left out and why
    (see the module docstring).
    """
    root = Path(root).resolve()
    ignores: Ignores = []
    exclude = root / ".git" / "info" / "exclude"
    if exclude.is_file():
        ignores.append(("", _read_spec(exclude)))
    walk = _Walk(root, max_file_bytes, max_files, skipped if skipped is not None else Counter())
    yield from _walk(walk, root, "", ignores)


def _walk(walk: _Walk, directory: Path, prefix: str, ignores: Ignores) -> Iterator[SourceFile]:
    for name in IGNORE_FILES:
        spec_file = directory / name
        if spec_file.is_file():
            ignores = [*ignores, (prefix, _read_spec(spec_file))]
    try:
        with os.scandir(directory) as listing:
            entries = list(listing)
    except OSError:
        return
    # "name/" for directories makes depth-first order the same as sorting the full paths.
    entries.sort(key=lambda e: e.name + "/" if _is_real_dir(e) else e.name)
    for entry in entries:
        rel = f"{prefix}{entry.name}"
        if _is_real_dir(entry):
            if _skip_dir(entry.name) or _ignored(ignores, rel + "/"):
                continue
            yield from _walk(walk, Path(entry.path), rel + "/", ignores)
        elif not _skip_name(entry.name) and not _ignored(ignores, rel):
            if walk.max_files is not None and walk.read >= walk.max_files:
                walk.skipped["over_max_files"] += 1
                continue
            source = _read(walk, entry, rel)
            if source is not None:
                yield source


def _is_real_dir(entry: os.DirEntry[str]) -> bool:
    return entry.is_dir(follow_symlinks=False)


def _skip_dir(name: str) -> bool:
    return name in SKIP_DIRS or name.endswith(SKIP_DIR_SUFFIXES)


def _skip_name(name: str) -> bool:
    lower = name.lower()
    if name in LOCK_FILES or name in SKIP_FILES or lower.endswith(SKIP_SUFFIXES):
        return True
    _, dot, extension = lower.rpartition(".")
    return bool(dot) and extension in BINARY_EXTENSIONS


def _ignored(ignores: Ignores, rel: str) -> bool:
    """Git's rule: the deepest .gitignore with a matching pattern decides, its last match wins."""
    for base, spec in reversed(ignores):  # every base is a directory above `rel`
        include = spec.check_file(rel[len(base) :]).include
        if include is not None:
            return include
    return False


def _read_spec(path: Path) -> pathspec.GitIgnoreSpec:
    return pathspec.GitIgnoreSpec.from_lines(path.read_text(encoding="utf-8", errors="replace").splitlines())


def _read(walk: _Walk, entry: os.DirEntry[str], rel: str) -> SourceFile | None:
    max_bytes = walk.max_bytes
    try:
        if entry.is_symlink():
            target = Path(entry.path).resolve()
            if not target.is_relative_to(walk.root) or not target.exists():
                walk.skipped["link_outside"] += 1
                return None
            if not target.is_file():
                return None
            path = str(target)  # read the checked target, not the link (which may change meanwhile)
        elif entry.is_file(follow_symlinks=False):
            path = entry.path
        else:
            return None
        walk.read += 1
        # O_NOFOLLOW: a file swapped for a link since it was checked is not followed out of the root
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(descriptor, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                return None
            if info.st_size > max_bytes:
                walk.skipped["too_large"] += 1
                return None
            data = handle.read(max_bytes + 1)
    except OSError:
        return None
    if len(data) > max_bytes:
        walk.skipped["too_large"] += 1
        return None
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        return None
    language = detect_language(rel)
    if language == "text" and "." not in entry.name and (m := _SHEBANG.match(text)):
        language = _SHEBANG_LANGUAGES[m.group(1)]
    if language not in PROSE and _looks_minified(text):
        return None
    return SourceFile(path=rel, language=language, text=text)


def _looks_minified(text: str) -> bool:
    return len(text) >= MINIFIED_MIN_BYTES and len(text) / (text.count("\n") + 1) > MINIFIED_AVERAGE_LINE
