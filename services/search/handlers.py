"""Subscribers of the search service: replicas answer queries, the indexer consumes index commands."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TypeVar

from faststream import Context
from faststream.middlewares import AckPolicy
from faststream.nats import ConsumerConfig, JStream, NatsMessage, NatsRouter, PullSub

from services.search.backend import RetrievalBackend
from services.search.index import SearchIndex
from services.search.indexing import Indexer
from services.search.model_loader import RerankerLoader
from services.search.replica import Replica
from services.search.snapshots import fetch_snapshot
from shared import subjects
from shared.bus import expired
from shared.dead_letters import dead_letter_command
from shared.jobs import kept_alive
from shared.schemas import (
    Impression,
    IndexCommand,
    IndexUpdated,
    ModelTrained,
    ModelUpdated,
    command_decoder,
    encoder,
    event_decoder,
)
from shared.validation import decode

log = logging.getLogger("codesift.search")

E = TypeVar("E", IndexUpdated, ModelUpdated, ModelTrained)
replica_router = NatsRouter()
indexer_router = NatsRouter()

IMPRESSION_TIMEOUT_S = 1.0
IMPRESSION_RETRY_S, IMPRESSION_RETRY_PAUSE_S = 30.0, 0.5  # background retries of a failed impression
_RETRIES: set[asyncio.Task] = set()  # running retries (a task nobody references may be collected)
HEARTBEAT_S = 10.0  # in-progress acks while a long index job runs (consumer ack_wait is 30 s)


@replica_router.subscriber(subjects.SEARCH_QUERY, queue=subjects.SEARCH_QUEUE, max_workers=4)
async def on_query(msg: NatsMessage, replica: Replica = Context("replica"), js=Context("js")) -> bytes:
    if expired(msg.headers):  # queued past its asker's deadline (overload): nobody waits for it
        if replica.metrics is not None:
            replica.metrics.searched("expired")
        return b""
    reply, impression = await asyncio.to_thread(replica.search, msg.body)
    if impression is not None:
        metrics = replica.metrics
        began = time.perf_counter() if metrics is not None else 0.0
        await record_impression(js, impression)
        if metrics is not None:
            metrics.stage("impression", time.perf_counter() - began)
    return reply


async def record_impression(js, impression: Impression) -> None:
    """Store what this search showed before the user sees it, so feedback can always be joined to it.

    A bus failure never costs the search: when the first try fails (no stream leader while a NATS
    cluster elects one takes ~5 s), the search is answered and the impression is offered again in
    the background, with the same message id (stored once), for up to IMPRESSION_RETRY_S.
    """
    try:
        await _publish_impression(js, impression)
    except Exception as exc:
        log.warning(
            "impression %s: the bus did not take it (%s), retrying in the background",
            impression.query_id,
            exc,
        )
        task = asyncio.get_running_loop().create_task(_retry_impression(js, impression))
        _RETRIES.add(task)
        task.add_done_callback(_RETRIES.discard)


async def _publish_impression(js, impression: Impression) -> None:
    await js.publish(
        subjects.impression_subject(impression.query_id),
        encoder.encode(impression),
        timeout=IMPRESSION_TIMEOUT_S,
        headers={"Nats-Msg-Id": impression.query_id},
    )


async def _retry_impression(js, impression: Impression) -> None:
    deadline = time.monotonic() + IMPRESSION_RETRY_S
    while True:
        await asyncio.sleep(IMPRESSION_RETRY_PAUSE_S)
        try:
            await _publish_impression(js, impression)
            log.info("impression %s recorded on a retry", impression.query_id)
            return
        except Exception as exc:
            if time.monotonic() >= deadline:
                log.warning("impression %s not recorded: %s", impression.query_id, exc)
                return


@replica_router.subscriber(subjects.SEARCH_CANDIDATES, queue=subjects.SEARCH_QUEUE, max_workers=4)
async def on_candidates(msg: NatsMessage, replica: Replica = Context("replica")) -> bytes:
    if expired(msg.headers):
        return b""
    return await asyncio.to_thread(replica.candidates, msg.body)


@replica_router.subscriber(subjects.SEARCH_DOCUMENTS, queue=subjects.SEARCH_QUEUE, max_workers=2)
async def on_documents(msg: NatsMessage, replica: Replica = Context("replica")) -> bytes:
    if expired(msg.headers):
        return b""
    return await asyncio.to_thread(replica.documents, msg.body)


@replica_router.subscriber(subjects.SEARCH_PING)
async def on_ping(msg: NatsMessage, replica: Replica = Context("replica")) -> bytes:
    return encoder.encode(replica.info())


# Broadcasts are stored in EVENTS too, so their publishers wait for JetStream's ack on a reply
# subject: a replica must not answer there (no_reply; FastStream would send an empty reply, which
# the publisher can read first, as the ack, and fail on).
@replica_router.subscriber(subjects.INDEX_UPDATED, no_reply=True)
async def on_index_updated(msg: NatsMessage, replica: Replica = Context("replica"), js=Context("js")) -> None:
    if (event := broadcast(msg.body, IndexUpdated)) is not None:
        await load_index(replica, js, event)


@replica_router.subscriber(subjects.MODEL_UPDATED, no_reply=True)  # every replica, no queue group
async def on_model_updated(msg: NatsMessage, loader: RerankerLoader = Context("reranker_loader")) -> None:
    if (event := broadcast(msg.body, ModelUpdated)) is not None:
        await loader.updated(event.version, event.sha256)


# every replica: get ready before a promotion
@replica_router.subscriber(subjects.MODEL_TRAINED, no_reply=True)
async def on_model_trained(msg: NatsMessage, loader: RerankerLoader = Context("reranker_loader")) -> None:
    if (event := broadcast(msg.body, ModelTrained)) is not None:
        await loader.prepare(event.version, event.sha256)


def broadcast(body: bytes, kind: type[E]) -> E | None:
    """The broadcast event of `kind` in `body`; anything else is ignored with one log line."""
    event, problem = decode(event_decoder, body)
    if isinstance(event, kind):
        return event
    why = f"{problem.field}: {problem.message}" if problem else f"a {type(event).__name__}"
    log.warning("ignored a malformed %s broadcast (%s)", kind.__name__, why)
    return None


async def load_index(replica: Replica, js, pointer: IndexUpdated) -> None:
    loaded = replica.loaded
    if loaded is not None and loaded.pointer.version == pointer.version:
        return
    if replica.settings.index_backend == "opensearch":  # the index is in the cluster: no snapshot
        replica.swap(opensearch_index(replica, pointer), pointer)
        log.info(
            "%s serves OpenSearch index %s (%d chunks)", replica.replica_id, pointer.version, pointer.chunks
        )
        return
    data = await fetch_snapshot(js, pointer)
    index = await asyncio.to_thread(SearchIndex.from_archive, data, pointer.version)
    replica.swap(index, pointer)
    log.info("%s serves index %s (%d chunks)", replica.replica_id, pointer.version, pointer.chunks)


def opensearch_index(replica: Replica, pointer: IndexUpdated) -> RetrievalBackend:
    """The cluster's indexes as the pointer names them (the replica's one client, made once)."""
    from services.search.opensearch.client import make_client  # only this backend needs it
    from services.search.opensearch.reader import OpenSearchIndex

    if replica.backend_client is None:
        replica.backend_client = make_client(replica.settings)
    return OpenSearchIndex(replica.backend_client, replica.settings, pointer.repos, pointer.version)


@indexer_router.subscriber(
    subjects.CMD_INDEX,
    stream=JStream("COMMANDS", declare=False),
    durable="indexer",
    pull_sub=PullSub(batch_size=1, timeout=5.0),
    config=ConsumerConfig(ack_wait=30, max_deliver=3),
    ack_policy=AckPolicy.MANUAL,
)
async def on_index_command(
    msg: NatsMessage, indexer: Indexer = Context("indexer"), nc=Context("nc"), js=Context("js")
) -> None:
    command, problem = decode(command_decoder, msg.body)
    if problem is not None or not isinstance(command, IndexCommand):
        reason = f"{problem.field}: {problem.message}" if problem else "not an index command"
        log.error("rejected index command: %s", reason)
        await dead_letter_command(nc, msg.body, reason)
        await msg.reject()
        return
    async with kept_alive(msg, HEARTBEAT_S):
        await indexer.run(command, nc, js)
    await msg.ack()
