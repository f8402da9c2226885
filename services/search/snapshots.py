"""Index snapshots in the JetStream object store `indexes`, and the registry pointer to the latest.

The indexer puts a snapshot, then moves KV registry["index"]; replicas read the pointer at start-up
and fetch the snapshot, so a replica started late needs no broadcast and no shared disk.
"""

from __future__ import annotations

import hashlib
import time

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError

from shared.archives import read_object
from shared.schemas import IndexUpdated, encoder, event_decoder
from shared.streams import Buckets

POINTER_KEY = "index"


class SnapshotError(RuntimeError):
    pass


async def publish_snapshot(
    js: JetStreamContext, version: str, archive: bytes, repos: dict[str, int], chunks: int
) -> IndexUpdated:
    store = await js.object_store(Buckets.INDEXES)
    digest = hashlib.sha256(archive).hexdigest()
    await store.put(version, archive)
    event = IndexUpdated(timestamp=time.time(), version=version, sha256=digest, chunks=chunks, repos=repos)
    await publish_pointer(js, event)
    return event


async def publish_pointer(js: JetStreamContext, event: IndexUpdated) -> None:
    """Move KV registry["index"] (alone: the OpenSearch backend has no snapshot, sha256 "")."""
    kv = await js.key_value(Buckets.REGISTRY)
    await kv.put(POINTER_KEY, encoder.encode(event))


async def current_pointer(js: JetStreamContext) -> IndexUpdated | None:
    kv = await js.key_value(Buckets.REGISTRY)
    try:
        entry = await kv.get(POINTER_KEY)
    except KeyNotFoundError:
        return None
    if not entry.value:
        return None
    event = event_decoder.decode(entry.value)
    return event if isinstance(event, IndexUpdated) else None


async def fetch_snapshot(js: JetStreamContext, pointer: IndexUpdated) -> bytes:
    store = await js.object_store(Buckets.INDEXES)
    data = await read_object(store, pointer.version)  # refused unread past the archive limits
    if hashlib.sha256(data).hexdigest() != pointer.sha256:
        raise SnapshotError(f"index snapshot {pointer.version} does not match its sha256; not loaded")
    return data
