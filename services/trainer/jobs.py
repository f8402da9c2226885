"""One trainer job at a time: a lock in KV `jobs`, recovery after a crash, and the job's log.

The lock key holds the running job's id. A second request while it is held is answered "already
running" with that id (the CLI and the gateway check before they submit). A trainer killed mid-job
finds its lock at start-up, marks that job failed and removes what it had half-written.
"""

from __future__ import annotations

import logging
import shutil
from collections import deque
from pathlib import Path

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import KeyWrongLastSequenceError

from shared.jobs import TRAINER_LAST, TRAINER_LOCK, JobReporter, job_state, running_trainer_job
from shared.streams import Buckets

LOCK_KEY = TRAINER_LOCK
LAST_KEY = TRAINER_LAST
TAIL = 100
log = logging.getLogger("codesift.trainer")


class AlreadyRunning(RuntimeError):
    def __init__(self, job_id: str):
        super().__init__(f"already running: {job_id}")
        self.job_id = job_id


running_job = running_trainer_job


async def acquire(js: JetStreamContext, job_id: str) -> None:
    kv = await js.key_value(Buckets.JOBS)
    try:
        await kv.create(LOCK_KEY, job_id.encode())
    except KeyWrongLastSequenceError:
        current = await running_job(js)
        if current is None or current == job_id:  # deleted meanwhile, or our own redelivery
            await kv.put(LOCK_KEY, job_id.encode())
            return
        raise AlreadyRunning(current) from None
    await kv.put(LAST_KEY, job_id.encode())


async def release(js: JetStreamContext, job_id: str) -> None:
    if await running_job(js) == job_id:
        kv = await js.key_value(Buckets.JOBS)
        await kv.delete(LOCK_KEY)


async def recover(nc: Client, js: JetStreamContext, scratch: list[Path]) -> str | None:
    """After a crash: fail the job that held the lock, remove half-written output. Returns its id."""
    for directory in scratch:
        for leftover in directory.glob(".tmp-*"):
            shutil.rmtree(leftover, ignore_errors=True)
    job_id = await running_job(js)
    if job_id is None:
        return None
    state = await job_state(js, job_id)
    if state is None or state.state not in ("succeeded", "failed"):
        kind = state.kind if state else "train"
        reporter = JobReporter(nc, js, job_id, kind)
        await reporter.report("failed", 0.0, "the trainer stopped mid-job (killed or crashed); run it again")
        log.warning("job %s was interrupted by a trainer restart: marked failed", job_id)
    await release(js, job_id)
    return job_id


class JobLog(logging.Handler):
    """A job's output: every log line goes to DATA_DIR/logs/jobs/<job_id>.log."""

    def __init__(self, directory: Path, job_id: str):
        super().__init__(logging.INFO)
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{job_id}.log"
        self.file = self.path.open("a", encoding="utf-8")
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        self.file.write(self.format(record) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()
        super().close()


def tail(path: Path, lines: int = TAIL) -> list[str]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8", errors="replace") as f:
        return [line.rstrip("\n") for line in deque(f, maxlen=lines)]
