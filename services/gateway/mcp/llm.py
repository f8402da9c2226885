"""An answer written by a language model behind any OpenAI-compatible chat-completions endpoint.

The model sees only the question and the search's chunks, each headed by its citation and with its
lines numbered, and is told to answer from them alone and to cite `path:start-end`. What it cites is
checked against the chunks it was given: only citations of lines it saw are kept, and an answer
that cites none of them is a failure like a timeout or an HTTP 500. Every failure raises
`LlmFailed` with the reason in words; the caller answers extractively and says why.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.gateway.mcp.results import Citation, SearchHit

MAX_CHUNK_CHARS = 6_000  # of one chunk in the prompt: a chunk is at most 80 lines
SYSTEM_PROMPT = (
    "You answer questions about a code base. Use only the numbered code chunks in the user's "
    "message: no other knowledge of the code. Each chunk starts with its citation, path:start-end, "
    "and each of its lines with its line number. Cite every statement with the lines it rests on, "
    "written as path:start-end (a range inside one chunk, e.g. src/app.py:12-18). Be brief. If the "
    "chunks do not answer the question, say so."
)


class LlmFailed(Exception):
    """The language model gave no usable answer; the message says why, in words."""


@dataclass(frozen=True)
class LlmConfig:
    base_url: str
    model: str
    api_key: str = ""
    timeout: float = 20.0  # seconds for the whole request; no retries
    max_tokens: int = 700


def chunk_block(hit: SearchHit) -> str:
    """One chunk as the model sees it: its citation, then its lines numbered."""
    lines, size = [], 0
    for number, line in enumerate(hit["snippet"].splitlines(), hit["start_line"]):
        size += len(line) + 8
        if size > MAX_CHUNK_CHARS:
            lines.append("… (chunk cut)")
            break
        lines.append(f"{number}| {line}")
    return f"[{hit['path']}:{hit['start_line']}-{hit['end_line']}] ({hit['repo']}, {hit['language']})\n" + (
        "\n".join(lines)
    )


def build_messages(question: str, hits: Sequence[SearchHit]) -> list[dict[str, str]]:
    """The chat messages: instructions, then the question and the chunks (nothing else)."""
    chunks = "\n\n".join(chunk_block(hit) for hit in hits)
    user = f"Question: {question}\n\nCode chunks:\n\n{chunks}"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def cited(text: str, hits: Sequence[SearchHit]) -> list[Citation]:
    """The citations in `text` that point inside a chunk the model was given, in order, once each."""
    by_path: dict[str, list[SearchHit]] = {}
    for hit in hits:
        by_path.setdefault(hit["path"], []).append(hit)
    if not by_path:
        return []
    paths = "|".join(re.escape(p) for p in sorted(by_path, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w/.-])({paths}):(\d+)(?:\s*[-–]\s*(\d+))?")
    found: dict[tuple[str, int, int], Citation] = {}
    for match in pattern.finditer(text):
        path, start = match.group(1), int(match.group(2))
        end = int(match.group(3) or start)
        hit = next((h for h in by_path[path] if h["start_line"] <= start <= end <= h["end_line"]), None)
        if hit is None or (path, start, end) in found:
            continue
        lines = hit["snippet"].splitlines()[start - hit["start_line"] : end - hit["start_line"] + 1]
        found[(path, start, end)] = Citation(
            cite=f"{path}:{start}-{end}",
            doc_id=hit["doc_id"],
            repo=hit["repo"],
            path=path,
            start_line=start,
            end_line=end,
            text="\n".join(lines),
        )
    return list(found.values())


class LlmWriter:
    """Asks the configured endpoint through the official `openai` client (imported only when used)."""

    def __init__(self, config: LlmConfig) -> None:
        from openai import AsyncOpenAI

        self.config = config
        self._client = AsyncOpenAI(
            base_url=config.base_url,
            api_key=config.api_key or "unused",  # local servers take any key; the client needs one
            timeout=config.timeout,
            max_retries=0,  # a slow model gets one chance: the agent is waiting
        )

    async def close(self) -> None:
        await self._client.close()

    async def write(self, question: str, hits: Sequence[SearchHit]) -> tuple[str, list[Citation]]:
        """The model's answer and the citations in it; raise LlmFailed when there is no usable answer."""
        import openai

        try:
            completion = await self._client.chat.completions.create(
                model=self.config.model,
                messages=build_messages(question, hits),  # type: ignore[arg-type]
                max_tokens=self.config.max_tokens,
                temperature=0,
            )
        except openai.APITimeoutError:
            raise LlmFailed(f"no answer within {self.config.timeout:g} s") from None
        except openai.APIStatusError as exc:
            detail = re.sub(r"^Error code: \d+ - ", "", exc.message)
            raise LlmFailed(f"HTTP {exc.status_code}: {_short(detail)}") from None
        except openai.APIConnectionError as exc:
            raise LlmFailed(f"unreachable: {_short(str(exc.__cause__ or exc))}") from None
        except (openai.OpenAIError, ValueError, TypeError) as exc:
            raise LlmFailed(f"unreadable answer: {_short(str(exc))}") from None
        text = _content(completion)
        if not text:
            raise LlmFailed("an empty answer")
        citations = cited(text, hits)
        if not citations:
            raise LlmFailed("an answer citing none of the chunks it was given")
        return text, citations


def _content(completion: Any) -> str:
    try:
        return str(completion.choices[0].message.content or "").strip()
    except (AttributeError, IndexError, TypeError):
        return ""


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
