"""The analyzers of services/search/opensearch/mapping.py, run filter by filter in Python.

Each step does what the Lucene component its config names does (pattern tokenizer: split on the
pattern, drop empty tokens; keyword tokenizer: the text as one token; length; pattern_capture
with preserve_original: the token, then every non-empty capture of every find() except one equal
to the whole token; keyword_marker with a pattern: full match; pattern_replace; lowercase; stop;
Snowball English unless keyword), with the `regex` module reading the same patterns Java reads.
"""

from __future__ import annotations

import regex
import Stemmer

from services.search.opensearch.mapping import ANALYSIS, ANALYZER

_STEMMER = Stemmer.Stemmer("english")


def analyze(text: str, analyzer: str = ANALYZER) -> list[str]:
    config = ANALYSIS["analyzer"][analyzer]
    if config["tokenizer"] == "keyword":  # the whole text, one token
        tokens = [(text, False)] if text else []
    else:
        tokenizer = ANALYSIS["tokenizer"][config["tokenizer"]]
        assert tokenizer["type"] == "pattern"
        tokens = [(t, False) for t in regex.split(tokenizer["pattern"], text, flags=regex.V1) if t]
    for name in config["filter"]:
        spec = {"type": "lowercase"} if name == "lowercase" else ANALYSIS["filter"][name]
        tokens = list(_apply(spec, tokens))
    return [t for t, _ in tokens]


def _apply(spec: dict, tokens):
    kind = spec["type"]
    for token, keyword in tokens:
        if kind == "length":
            if spec.get("min", 0) <= len(token) <= spec.get("max", 2**31 - 1):
                yield token, keyword
        elif kind == "pattern_capture":
            assert spec["preserve_original"]
            yield token, keyword
            for pattern in spec["patterns"]:
                for match in regex.finditer(pattern, token, flags=regex.V1):
                    for group in range(1, len(match.groups()) + 1):
                        start, end = match.span(group)
                        if start != end and not (start == 0 and end == len(token)):
                            yield token[start:end], keyword
        elif kind == "keyword_marker":
            yield (
                token,
                keyword or regex.fullmatch(spec["keywords_pattern"], token, flags=regex.V1) is not None,
            )
        elif kind == "pattern_replace":
            yield regex.sub(spec["pattern"], spec["replacement"], token, flags=regex.V1), keyword
        elif kind == "lowercase":
            yield token.lower(), keyword
        elif kind == "stop":
            if token not in set(spec["stopwords"]):
                yield token, keyword
        elif kind == "snowball":
            assert spec["language"] == "English"
            yield (token if keyword else _STEMMER.stemWord(token)), keyword
        else:
            raise AssertionError(f"no emulation of {kind}")
