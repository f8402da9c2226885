"""Job progress: the latest state of each job in KV `jobs`, every change on codesift.jobs.<id>.

Long jobs (index, mine, train, evaluate) report through a JobReporter; clients (CLI, GUI) follow
a job by subscribing to its subject and reading the KV entry for the state they missed. The
reporter also counts the jobs of its process for Prometheus: how many run now, and how many ended,
by kind and outcome, with how long each ran.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, NoKeysError
from prometheus_client import Counter, Gauge, Histogram

from shared import subjects
from shared.observability import JOB_BUCKETS
from shared.schemas import JOB_STATES_FINAL, JobProgress, encoder, event_decoder
from shared.streams import Buckets

JOBS_ENDED = Counter("codesift_jobs_total", "Jobs that ended, by kind and outcome", ["kind", "outcome"])
JOBS_RUNNING = Gauge("codesift_jobs_running", "Jobs running now in this process", ["kind"])
JOB_DURATION = Histogram(
    "codesift_job_duration_seconds",
    "How long a job ran, from its first running state to its end",
    ["kind", "outcome"],
    buckets=JOB_BUCKETS,
)


def new_job_id(kind: str) -> str:
    return f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"


class JobReporter:
    """Publishes a job's progress; throttles fractional updates, never drops state changes."""

    def __init__(self, nc: Client, js: JetStreamContext, job_id: str, kind: str, min_interval: float = 0.25):
        self.nc, self.js, self.job_id, self.kind = nc, js, job_id, kind
        self.min_interval = min_interval
        self._last_sent = 0.0
        self._last_state = ""
        self._began: float | None = None  # monotonic time of the first "running" state
        self._ended = False

    async def report(
        self,
        state: str,
        progress: float = 0.0,
        message: str = "",
        result: dict[str, object] | None = None,
    ) -> None:
        now = time.time()
        if state == self._last_state and now - self._last_sent < self.min_interval:
            return
        self._last_sent, self._last_state = now, state
        event = JobProgress(
            timestamp=now,
            job_id=self.job_id,
            kind=self.kind,
            state=state,
            progress=max(0.0, min(1.0, progress)),
            message=message,
            result=result or {},
        )
        data = encoder.encode(event)
        kv = await self.js.key_value(Buckets.JOBS)
        await kv.put(self.job_id, data)
        await self.nc.publish(subjects.job_subject(self.job_id), data)
        self._count(state)

    def _count(self, state: str) -> None:
        """Job metrics: a job is running from its first running state; it ends once."""
        if self._ended:
            return
        if state == "running" and self._began is None:
            self._began = time.monotonic()
            JOBS_RUNNING.labels(self.kind).inc()
        elif state in JOB_STATES_FINAL:
            self._ended = True
            JOBS_ENDED.labels(self.kind, state).inc()
            if self._began is not None:
                JOBS_RUNNING.labels(self.kind).dec()
                JOB_DURATION.labels(self.kind, state).observe(time.monotonic() - self._began)

    def threadsafe(self, loop: asyncio.AbstractEventLoop):
        """A progress callback (fraction, message) for code running in a worker thread."""

        def callback(fraction: float, message: str) -> None:
            asyncio.run_coroutine_threadsafe(self.report("running", fraction, message), loop)

        return callback


async def job_state(js: JetStreamContext, job_id: str) -> JobProgress | None:
    kv = await js.key_value(Buckets.JOBS)
    try:
        entry = await kv.get(job_id)
    except KeyNotFoundError:
        return None
    if entry.value is None:
        return None
    event = event_decoder.decode(entry.value)
    return event if isinstance(event, JobProgress) else None


TRAINER_LOCK = "trainer.current"  # KV `jobs`: the id of the trainer job that runs now
TRAINER_LAST = "trainer.last"  # KV `jobs`: the id of the trainer's latest job


async def running_trainer_job(js: JetStreamContext) -> str | None:
    """The trainer job that holds the lock, if any (mine and train run one at a time)."""
    kv = await js.key_value(Buckets.JOBS)
    try:
        entry = await kv.get(TRAINER_LOCK)
    except KeyNotFoundError:
        return None
    return entry.value.decode() if entry.value else None


async def list_jobs(js: JetStreamContext, limit: int | None = None) -> list[JobProgress]:
    """Every job's latest state, newest first (the trainer's pointer keys are not jobs)."""
    kv = await js.key_value(Buckets.JOBS)
    try:
        keys = await kv.keys()
    except NoKeysError:
        return []
    found = []
    for key in keys:
        if key in (TRAINER_LOCK, TRAINER_LAST):
            continue
        entry = await kv.get(key)
        event = event_decoder.decode(entry.value) if entry.value else None
        if isinstance(event, JobProgress):
            found.append(event)
    return sorted(found, key=lambda j: j.timestamp, reverse=True)[:limit]


@contextlib.asynccontextmanager
async def kept_alive(msg: Any, every: float = 10.0) -> AsyncIterator[None]:
    """Tell JetStream a long job's message is still being worked on (in-progress acks) until the block
    ends, so the consumer's ack wait never redelivers it meanwhile."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(every)
            await msg.in_progress()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
