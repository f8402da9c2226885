"""Search replica processes on a real nats-server, and the bus moves a promoter makes: for hot-reload tests.

Used by tests/integration/test_reload.py and bench/reload.py. A replica is started exactly as
`codesift up` starts one (`python -m services.search replica` with CODESIFT_* variables); the
index is published to the object store as the indexer would, models as the trainer would.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

import msgspec
from nats.aio.client import Client
from nats.js import JetStreamContext

from services.search.embedding import Embedder
from services.search.export_embedder import ensure_embedder
from services.search.index import SearchIndex
from services.search.indexer import index_repository
from services.search.snapshots import publish_snapshot
from shared import subjects
from shared.artifacts import put_model
from shared.schemas import (
    ModelPointer,
    ModelTrained,
    ModelUpdated,
    ReplicaInfo,
    SearchReply,
    SearchRequest,
    encoder,
)
from shared.settings import settings
from shared.streams import Buckets

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_REPO = ROOT / "tests" / "fixtures" / "sample_repo"
_info = msgspec.json.Decoder(ReplicaInfo)
_reply = msgspec.json.Decoder(SearchReply)


def embedder_dir() -> Path:
    """The exported ONNX embedder in the shared cache (exported once when missing)."""
    return ensure_embedder(settings().cache_dir)


def build_index(root: Path = FIXTURE_REPO, name: str = "sample") -> SearchIndex:
    index, _ = index_repository(root, name, None, Embedder(embedder_dir(), quantized=True))
    return index


class ReplicaProcess:
    def __init__(self, replica_id: str, nats_url: str, data_dir: Path, cache_dir: Path, **env: str):
        self.replica_id = replica_id
        self.lines: deque[str] = deque(maxlen=2000)
        variables = os.environ | {
            "CODESIFT_NATS_URL": nats_url,
            "CODESIFT_DATA_DIR": str(data_dir),
            "CODESIFT_CACHE_DIR": str(cache_dir),
            "CODESIFT_EMBED_ONNX_DIR": str(embedder_dir()),
            "CODESIFT_REPLICA_ID": replica_id,
        }
        variables |= {f"CODESIFT_{name.upper()}": value for name, value in env.items()}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.search", "replica"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=variables,
            cwd=ROOT,
        )
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stdout
        for line in self.process.stdout:
            self.lines.append(line.rstrip())

    def output(self) -> str:
        return "\n".join(self.lines)

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


async def ping(nc: Client, expect: int, timeout: float = 1.0) -> list[ReplicaInfo]:
    """Every replica's answer: returns as soon as `expect` answered, or after `timeout`."""
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    found: dict[str, ReplicaInfo] = {}
    try:
        await nc.publish(subjects.SEARCH_PING, b"", reply=inbox)
        deadline = time.monotonic() + timeout
        while len(found) < expect and (left := deadline - time.monotonic()) > 0:
            try:
                msg = await sub.next_msg(timeout=left)
            except TimeoutError:
                break
            if msg.data:
                info = _info.decode(msg.data)
                found[info.replica_id] = info
    finally:
        await sub.unsubscribe()
    return list(found.values())


async def wait_for(nc: Client, expect: int, ready, timeout: float, poll: float = 0.01) -> list[ReplicaInfo]:
    """Ping until `expect` replicas answer and `ready(info)` holds for each; raise on timeout."""
    deadline = time.monotonic() + timeout
    infos: list[ReplicaInfo] = []
    while time.monotonic() < deadline:
        infos = await ping(nc, expect, timeout=min(1.0, max(0.05, deadline - time.monotonic())))
        if len(infos) >= expect and all(ready(i) for i in infos):
            return infos
        await asyncio.sleep(poll)
    raise TimeoutError(f"replicas not ready after {timeout} s: {infos}")


async def search(nc: Client, query: str, k: int = 5, timeout: float = 10.0) -> SearchReply:
    msg = await nc.request(
        subjects.SEARCH_QUERY, encoder.encode(SearchRequest(query=query, k=k)), timeout=timeout
    )
    return _reply.decode(msg.data)


async def publish_index(nc: Client, js: JetStreamContext, index: SearchIndex, version: str) -> None:
    event = await publish_snapshot(js, version, index.to_archive(), index.repos(), len(index.chunks))
    await nc.publish(subjects.INDEX_UPDATED, encoder.encode(event))


async def upload_model(
    js: JetStreamContext, model_dir: Path, aliases: tuple[str, ...] = ()
) -> tuple[str, bytes]:
    """`put_model` the artifact (named after its directory), and the same archive under each alias.

    Returns the archive's sha256 and bytes.
    """
    sha256 = await put_model(js, model_dir)
    store = await js.object_store(Buckets.MODELS)
    buffer = io.BytesIO()
    await store.get(model_dir.name, writeinto=buffer)
    for alias in aliases:
        await store.put(alias, buffer.getvalue())
    return sha256, buffer.getvalue()


async def put_tampered(js: JetStreamContext, version: str, genuine: bytes) -> None:
    """Store `genuine` with one byte changed under `version`: its sha256 no longer matches."""
    tampered = bytearray(genuine)
    tampered[len(tampered) // 2] ^= 0xFF
    await (await js.object_store(Buckets.MODELS)).put(version, bytes(tampered))


async def announce_trained(nc: Client, version: str, sha256: str) -> None:
    event = ModelTrained(timestamp=time.time(), version=version, sha256=sha256, job_id="test", triplets={})
    await nc.publish(subjects.MODEL_TRAINED, encoder.encode(event))


async def promote(nc: Client, js: JetStreamContext, version: str | None, sha256: str | None) -> None:
    """What the promoter does: move the production pointer (delete it for None), then broadcast."""
    kv = await js.key_value(Buckets.REGISTRY)
    if version is None or sha256 is None:
        await kv.delete("model")
    else:
        await kv.put(
            "model", encoder.encode(ModelPointer(version=version, sha256=sha256, promoted_at=time.time()))
        )
    await nc.publish(subjects.MODEL_UPDATED, encoder.encode(ModelUpdated(time.time(), version, sha256)))
    await nc.flush()
