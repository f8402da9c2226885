"""The msgspec.Meta limits of a shared schema type, as keywords for Litestar and pydantic.

Neither Litestar's handler parameters nor pydantic (the MCP SDK's tool arguments) read msgspec.Meta;
this keeps `shared.schemas` the one source of the limits (`ge`, `le`, lengths, pattern).
"""

from __future__ import annotations

from typing import Any

import msgspec

NAMES = ("ge", "le", "min_length", "max_length", "pattern")


def limits(annotated: Any) -> dict[str, Any]:
    """`Annotated[int, msgspec.Meta(ge=1, le=100)]` -> {"ge": 1, "le": 100}."""
    meta: msgspec.Meta = annotated.__metadata__[0]
    return {name: getattr(meta, name) for name in NAMES if getattr(meta, name) is not None}
