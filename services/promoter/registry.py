"""What the promoter reads and writes in JetStream: the production pointer, evaluations, broadcasts.

The pointer (KV `registry`, key "model") is changed with compare-and-set on its revision, so two
promoters, or a promotion racing a rollback, cannot overwrite each other's decision. No reranker in
production is a missing (or deleted) key.
"""

from __future__ import annotations

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import KeyDeletedError, KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError

from services.promoter.errors import PointerChanged
from shared import subjects
from shared.schemas import ModelEvaluated, ModelPointer, ModelUpdated, encoder, event_decoder
from shared.streams import Buckets

POINTER_KEY = "model"
EVENTS_STREAM = "EVENTS"
pointer_decoder = msgspec.json.Decoder(ModelPointer)


async def read_pointer(js: JetStreamContext) -> tuple[ModelPointer | None, int]:
    """The production pointer and its revision (0 when the key never existed)."""
    kv = await js.key_value(Buckets.REGISTRY)
    try:
        entry = await kv.get(POINTER_KEY)
    except KeyDeletedError as deleted:
        return None, deleted.entry.revision if deleted.entry else 0
    except KeyNotFoundError:
        return None, 0
    if not entry.value:
        return None, entry.revision or 0
    return pointer_decoder.decode(entry.value), entry.revision or 0


async def write_pointer(js: JetStreamContext, pointer: ModelPointer | None, revision: int) -> None:
    """Replace the pointer read at `revision` (None: delete it, back to no reranker)."""
    kv = await js.key_value(Buckets.REGISTRY)
    try:
        if pointer is None:
            await kv.delete(POINTER_KEY, last=revision)
        elif revision == 0:
            await kv.create(POINTER_KEY, encoder.encode(pointer))
        else:
            await kv.update(POINTER_KEY, encoder.encode(pointer), last=revision)
    except KeyWrongLastSequenceError:
        raise PointerChanged() from None


async def read_evaluation(js: JetStreamContext, version: str) -> ModelEvaluated | None:
    """The latest evaluation of `version` (KV `evals`), or None."""
    kv = await js.key_value(Buckets.EVALS)
    try:
        entry = await kv.get(version)
    except KeyNotFoundError:
        return None
    event = event_decoder.decode(entry.value) if entry.value else None
    return event if isinstance(event, ModelEvaluated) else None


async def last_update(js: JetStreamContext) -> tuple[ModelUpdated | None, int]:
    """The last model.updated broadcast and its sequence in the audit stream (0: none yet)."""
    try:
        msg = await js.get_last_msg(EVENTS_STREAM, subjects.MODEL_UPDATED)
    except NotFoundError:
        return None, 0
    event = event_decoder.decode(msg.data) if msg.data else None
    return (event if isinstance(event, ModelUpdated) else None), msg.seq or 0
