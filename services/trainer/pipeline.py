"""The trainer: runs one job at a time (mine or train), reports progress, registers models."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from nats.aio.client import Client
from nats.js import JetStreamContext

from services.trainer import jobs
from services.trainer.mine_job import run_mine
from services.trainer.settings import TrainerSettings
from services.trainer.sources import SearchSource
from services.trainer.train_job import run_train
from shared import subjects
from shared.artifacts import put_model, read_manifest
from shared.jobs import JobReporter
from shared.paths import name_problem
from shared.schemas import MineCommand, ModelTrained, TrainCommand, command_kind, encoder
from shared.streams import Buckets

log = logging.getLogger("codesift.trainer")


class Trainer:
    def __init__(self, settings: TrainerSettings, nc: Client, js: JetStreamContext):
        self.settings, self.nc, self.js = settings, nc, js
        self.cancel = threading.Event()

    async def run(self, command: MineCommand | TrainCommand) -> None:
        kind = command_kind(command)
        await jobs.acquire(self.js, command.job_id)  # raises AlreadyRunning
        job_log = jobs.JobLog(self.settings.job_logs, command.job_id)
        logging.getLogger().addHandler(job_log)
        reporter = JobReporter(self.nc, self.js, command.job_id, kind)
        try:
            await reporter.report("running", 0.0, f"{kind} started")
            loop = asyncio.get_running_loop()
            progress = reporter.threadsafe(loop)
            if isinstance(command, MineCommand):
                source = SearchSource(self.nc, loop, timeout=self.settings.request_timeout)
                result = await asyncio.to_thread(run_mine, command, self.settings, source, progress)
                message = f"mined {result['triplets']} triplets"
            else:
                self.cancel.clear()
                source = SearchSource(self.nc, loop, timeout=self.settings.request_timeout)
                result = await asyncio.to_thread(
                    run_train, command, self.settings, progress, self.cancel.is_set, source.candidates
                )
                result["sha256"] = await self.register(command.job_id, result)
                message = f"trained {result['version']}"
            log.info("%s job %s succeeded: %s", kind, command.job_id, message)
            await reporter.report("succeeded", 1.0, message, result=result)
        except Exception as exc:
            log.exception("%s job %s failed", kind, command.job_id)
            await reporter.report("failed", 0.0, str(exc) or type(exc).__name__)
        finally:
            logging.getLogger().removeHandler(job_log)
            job_log.close()
            await jobs.release(self.js, command.job_id)

    async def register(self, job_id: str, result: dict) -> str:
        """Put the finished artifact in the object store, then announce it (codesift.model.trained)."""
        version = result["version"]
        path = self.settings.models / version
        digest = await put_model(self.js, path)
        event = ModelTrained(
            timestamp=time.time(),
            version=version,
            sha256=digest,
            job_id=job_id,
            triplets=result["triplets"],
            manifest=read_manifest(path),
            feedback_events=result.get("feedback_events", 0),
        )
        data = encoder.encode(event)
        registry = await self.js.key_value(Buckets.REGISTRY)
        await registry.put(f"trained.{version}", data)  # the model list (GUI, promoter) reads these
        await self.js.publish(subjects.MODEL_TRAINED, data)
        return digest

    async def logs(self) -> dict[str, object]:
        """The last 100 lines of the running job, or of the last one."""
        job_id = await jobs.running_job(self.js)
        if job_id is None:
            kv = await self.js.key_value(Buckets.JOBS)
            try:
                entry = await kv.get(jobs.LAST_KEY)
                job_id = entry.value.decode() if entry.value else None
            except Exception:
                job_id = None
        # the job id comes from KV: a plain name, or no log is read (`../../x` would name any *.log)
        lines = (
            jobs.tail(self.settings.job_logs / f"{job_id}.log") if job_id and not name_problem(job_id) else []
        )
        return {"job_id": job_id, "lines": lines}
