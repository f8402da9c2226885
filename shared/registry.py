"""The production model pointer: KV `registry`, key "model" (a ModelPointer; absent or deleted: no reranker).

The promoter writes it (compare-and-set on the revision); replicas, the evaluator, the gateway and
the CLI read it here.
"""

from __future__ import annotations

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import KeyDeletedError, KeyNotFoundError

from shared.schemas import ModelPointer
from shared.streams import Buckets

MODEL_POINTER_KEY = "model"
pointer_decoder = msgspec.json.Decoder(ModelPointer)


async def read_model_pointer_revision(js: JetStreamContext) -> tuple[ModelPointer | None, int]:
    """The production pointer and its revision (0 when the key never existed)."""
    kv = await js.key_value(Buckets.REGISTRY)
    try:
        entry = await kv.get(MODEL_POINTER_KEY)
    except KeyDeletedError as deleted:  # a rollback to no reranker deletes the key
        return None, deleted.entry.revision if deleted.entry else 0
    except KeyNotFoundError:
        return None, 0
    if not entry.value:
        return None, entry.revision or 0
    return pointer_decoder.decode(entry.value), entry.revision or 0


async def read_model_pointer(js: JetStreamContext) -> ModelPointer | None:
    """The production pointer; None when no reranker is in production."""
    pointer, _ = await read_model_pointer_revision(js)
    return pointer
