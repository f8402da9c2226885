"""The learning loop's jobs, seen from the gateway: submit commands, read job states and logs."""

from __future__ import annotations

import msgspec
import nats.errors
from nats.aio.client import Client
from nats.js.errors import KeyNotFoundError, NoKeysError

from services.gateway.errors import Conflict, Unavailable
from shared import subjects
from shared.schemas import JobProgress, MineCommand, TrainCommand, encoder, event_decoder
from shared.streams import Buckets

LOCK_KEY = "trainer.current"  # the trainer's lock in KV `jobs`: the running job's id


class JobsClient:
    def __init__(self, nc: Client, timeout: float) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._timeout = timeout

    async def running(self) -> str | None:
        kv = await self._js.key_value(Buckets.JOBS)
        try:
            entry = await kv.get(LOCK_KEY)
        except KeyNotFoundError:
            return None
        return entry.value.decode() if entry.value else None

    async def submit(self, command: MineCommand | TrainCommand) -> None:
        """Store the command durably; refuse while a trainer job runs (409 names it)."""
        try:
            current = await self.running()
            if current is not None:
                raise Conflict(f"already running: {current}")
            subject = subjects.CMD_MINE if isinstance(command, MineCommand) else subjects.CMD_TRAIN
            await self._js.publish(
                subject,
                encoder.encode(command),
                timeout=self._timeout,
                headers={"Nats-Msg-Id": command.job_id},
            )
        except nats.errors.Error as exc:
            raise Unavailable(f"the command was not stored ({exc!r}): is the stack running?") from None

    async def jobs(self, limit: int = 20) -> list[JobProgress]:
        kv = await self._js.key_value(Buckets.JOBS)
        try:
            keys = await kv.keys()
        except NoKeysError:
            return []
        found = []
        for key in keys:
            if "." in key:  # trainer.current / trainer.last are pointers, not jobs
                continue
            entry = await kv.get(key)
            event = event_decoder.decode(entry.value) if entry.value else None
            if isinstance(event, JobProgress):
                found.append(event)
        return sorted(found, key=lambda j: j.timestamp, reverse=True)[:limit]

    async def logs(self) -> dict[str, object]:
        try:
            msg = await self._nc.request(subjects.TRAINER_LOGS, b"{}", timeout=self._timeout)
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
            raise Unavailable("the trainer does not answer: is the stack running?") from None
        return msgspec.json.decode(msg.data)
