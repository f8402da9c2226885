"""What the promoter reads and writes in JetStream: the production pointer, evaluations, broadcasts.

The pointer (KV `registry`, key "model"; read with `shared.registry`) is changed with
compare-and-set on its revision, so two promoters, or a promotion racing a rollback, cannot
overwrite each other's decision. No reranker in
production is a missing (or deleted) key.
"""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError, NotFoundError

from services.promoter.errors import PointerChanged
from shared import subjects
from shared.registry import MODEL_POINTER_KEY
from shared.schemas import ModelEvaluated, ModelPointer, ModelTrained, ModelUpdated, encoder, event_decoder
from shared.streams import Buckets

EVENTS_STREAM = "EVENTS"


async def write_pointer(js: JetStreamContext, pointer: ModelPointer | None, revision: int) -> None:
    """Replace the pointer read at `revision` (None: delete it, back to no reranker)."""
    kv = await js.key_value(Buckets.REGISTRY)
    try:
        if pointer is None:
            await kv.delete(MODEL_POINTER_KEY, last=revision)
        elif revision == 0:
            await kv.create(MODEL_POINTER_KEY, encoder.encode(pointer))
        else:
            await kv.update(MODEL_POINTER_KEY, encoder.encode(pointer), last=revision)
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


async def feedback_events(js: JetStreamContext, version: str | None) -> int:
    """The feedback events `version`'s training saw (KV registry "trained.<version>"); 0 when unknown
    (no such model, none in production, or trained before the count was recorded)."""
    if version is None:
        return 0
    kv = await js.key_value(Buckets.REGISTRY)
    try:
        entry = await kv.get(f"trained.{version}")
    except KeyNotFoundError:
        return 0
    event = event_decoder.decode(entry.value) if entry.value else None
    return event.feedback_events if isinstance(event, ModelTrained) else 0


async def last_update(js: JetStreamContext) -> tuple[ModelUpdated | None, int]:
    """The last model.updated broadcast and its sequence in the audit stream (0: none yet)."""
    try:
        msg = await js.get_last_msg(EVENTS_STREAM, subjects.MODEL_UPDATED)
    except NotFoundError:
        return None, 0
    event = event_decoder.decode(msg.data) if msg.data else None
    return (event if isinstance(event, ModelUpdated) else None), msg.seq or 0
