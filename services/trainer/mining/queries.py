"""Bootstrap queries: a documentation summary or a descriptive name, and when such a query is trivial."""

from __future__ import annotations

import re

from services.trainer.mining.text import STOPWORDS, content_words, split_identifier, stems, words

MAX_QUERY_WORDS = 32
MIN_QUERY_WORDS = 3
MIN_CONTENT_WORDS = 2
MIN_NAME_WORDS = 3  # content words a name needs before it is descriptive enough to be a query

# Words that add nothing to a definition's name: "Return the user." restates `get_user`.
GENERIC = stems([
    "get", "gets", "return", "returns", "function", "method", "class", "object", "instance",
    "value", "values", "new", "create", "creates", "given", "specified", "helper", "wrapper",
    "simple", "basic", "default", "main", "run", "runs", "call", "calls"
])  # fmt: skip
_SECTION = re.compile(
    r"^(@\w+|:(param|parameter|arg|argument|key|keyword|type|raises?|returns?|rtype|yields?|ivar|cvar|var)\b"
    r"|>>>|-{3,}|={3,}|(Args|Arguments|Parameters|Params|Returns?|Yields?|Raises|Throws|"
    r"Examples?|Notes?|Attributes|See Also|Usage|Warning)\s*:?$)",
    re.IGNORECASE,
)
_INLINE_TAG = re.compile(r"\{@\w+\s+([^}]*)\}")  # {@link Foo} -> Foo
_ROLE = re.compile(
    r":\w+(?::\w+)?:`~?([^`<]*?)\s*(?:<[^>`]*>)?`"
)  # :func:`~a.b` -> a.b, :class:`T <a.T>` -> T
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(`'\"])")
_BOILERPLATE = re.compile(
    r"^(todo|fixme|xxx|hack|noqa|nolint|type:|pylint:|eslint|prettier|istanbul|pragma|see\b|deprecated\b)"
    r"|auto-?generated|generated (by|from|with)|do not (edit|modify)|copyright|spdx-license|licensed under"
    r"|inheritdoc|initiali[sz]e self|implements? (the )?interface",
    re.IGNORECASE,
)


def summary(prose: str) -> str:
    """The first sentence of the first paragraph, markup and the final full stop removed."""
    paragraph: list[str] = []
    for line in prose.strip().split("\n"):
        line = line.strip()
        if not line or _SECTION.match(line):
            break
        paragraph.append(line)
    text = _ROLE.sub(r"\1", _INLINE_TAG.sub(r"\1", " ".join(paragraph))).replace("`", "")
    sentence = _SENTENCE_END.split(text, maxsplit=1)[0]
    return " ".join(sentence.split()[:MAX_QUERY_WORDS]).rstrip(".:;, ")


def name_query(symbol: str) -> str | None:
    """ "parse_http_response" -> "parse http response" when the name has enough content words."""
    name = symbol.rsplit(".", 1)[-1]
    if name.startswith("__"):
        return None
    parts = split_identifier(name)
    if sum(1 for p in parts if len(p) > 1 and p not in STOPWORDS) < MIN_NAME_WORDS:
        return None
    return " ".join(parts)


def query_problem(query: str, symbol: str) -> str | None:
    """Why a documentation query is too weak to train on, or None.

    short_query: fewer than 3 words or 2 content words. boilerplate: TODO, lint pragmas,
    generated-code and licence notices. restates_name: every content word (stemmed) is a word of
    the qualified name or generic ("Return the user." for `UserStore.get_user`).
    """
    content = content_words(query)
    if len(words(query)) < MIN_QUERY_WORDS or len(content) < MIN_CONTENT_WORDS:
        return "short_query"
    if _BOILERPLATE.search(query):
        return "boilerplate"
    if stems(content) <= stems(split_identifier(symbol)) | GENERIC:
        return "restates_name"
    return None
