"""Search hits cut from the fixture repository's real files, as a replica would return them."""

from __future__ import annotations

from pathlib import Path

from services.gateway.mcp.results import SearchHit

SAMPLE_REPO = Path(__file__).resolve().parents[4] / "tests" / "fixtures" / "sample_repo"


def hit(path: str, start: int, end: int, score: float = 1.0, repo: str = "sample") -> SearchHit:
    lines = (SAMPLE_REPO / path).read_text().splitlines()
    language = "python" if path.endswith(".py") else "markdown" if path.endswith(".md") else "text"
    return SearchHit(
        doc_id=f"{path}:{start}-{end}",
        repo=repo,
        path=path,
        start_line=start,
        end_line=end,
        score=score,
        snippet="\n".join(lines[start - 1 : end]),
        language=language,
    )


def file_lines(path: str, start: int, end: int) -> str:
    return "\n".join((SAMPLE_REPO / path).read_text().splitlines()[start - 1 : end])


TOKENS = hit("acme/auth/tokens.py", 40, 57, 0.9)  # validate_access_token
CLAIMS = hit("acme/auth/tokens.py", 19, 33, 0.5)  # TokenError, Claims
PASSWORDS = hit("acme/auth/passwords.py", 11, 24, 0.4)  # hash_password, verify_password
