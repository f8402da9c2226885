"""What the CLI asks of a running stack, over NATS."""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec
import nats
from nats.aio.client import Client
from nats.js.api import ClusterInfo

from shared import subjects
from shared.bus import StackNotRunning, connect, gather, request
from shared.jobs import job_state, list_jobs
from shared.learning import LearnSchedule, read_schedule
from shared.schemas import (
    JOB_STATES_FINAL,
    AnyCommand,
    JobProgress,
    ReplicaInfo,
    SearchReply,
    SearchRequest,
    SearchResponse,
    encoder,
    event_decoder,
)
from shared.settings import Settings
from shared.streams import bootstrap, default_replicas

_reply_decoder = msgspec.json.Decoder(SearchReply)
_info_decoder = msgspec.json.Decoder(ReplicaInfo)


class RequestProblem(ValueError):
    """The stack refused a request; `field` names what was wrong."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


class Stack:
    """One connection to a running stack."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.nc: Client | None = None

    async def __aenter__(self) -> Stack:
        self.nc = await connect(self.settings, "codesift-cli")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.nc is not None:
            await self.nc.close()

    async def replicas(self, wait: float = 0.3) -> list[ReplicaInfo]:
        return [_info_decoder.decode(r) for r in await gather(self.nc, subjects.SEARCH_PING, b"{}", wait)]

    async def nats_cluster(self) -> ClusterInfo | None:
        """Who leads the FEEDBACK stream and how its other replicas are (None: a single nats-server)."""
        return (await self.nc.jetstream(timeout=2).stream_info("FEEDBACK")).cluster

    async def jobs(self) -> list[JobProgress]:
        """Every job's latest state, newest first."""
        return await list_jobs(self.nc.jetstream())

    async def schedule(self) -> LearnSchedule | None:
        """The continuous learning loop's schedule as the trainer last wrote it."""
        return await read_schedule(self.nc.jetstream())

    async def search(self, query: str, k: int = 10, repo: str | None = None) -> SearchResponse:
        payload = encoder.encode(SearchRequest(query=query, k=k, repo=repo))
        try:
            msg = await request(
                self.nc, subjects.SEARCH_QUERY, payload, timeout=self.settings.request_timeout
            )
        except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
            raise StackNotRunning(
                "No search replica answered: the stack is starting or stopped. Start one with `codesift up`."
            ) from None
        reply = _reply_decoder.decode(msg.data)
        if reply.error is not None:
            raise RequestProblem(reply.error.field, reply.error.message)
        assert reply.response is not None
        return reply.response

    async def submit(self, subject: str, command: AnyCommand) -> None:
        """Store a command durably (JetStream); the job id is the message id, so a retry is stored once."""
        js = await bootstrap(self.nc, default_replicas(self.settings))
        await js.publish(subject, encoder.encode(command), headers={"Nats-Msg-Id": command.job_id})

    async def follow(
        self,
        job_id: str,
        on_progress: Callable[[JobProgress], None],
        timeout: float | None = None,
        idle_hint: float = 15.0,
    ) -> JobProgress:
        """Wait for a job to end, calling on_progress on each update; return its final state."""
        sub = await self.nc.subscribe(subjects.job_subject(job_id))
        js = self.nc.jetstream()
        started = time.monotonic()
        last = await job_state(js, job_id)  # it may have ended before we subscribed
        hinted = False
        try:
            while last is None or last.state not in JOB_STATES_FINAL:
                if timeout is not None and time.monotonic() - started > timeout:
                    raise TimeoutError(f"job {job_id} did not finish within {timeout:.0f} s")
                try:
                    msg = await sub.next_msg(timeout=1.0)
                except (TimeoutError, nats.errors.TimeoutError):
                    if last is None and not hinted and time.monotonic() - started > idle_hint:
                        hinted = True
                        on_progress(_waiting(job_id))
                    if last is None:
                        last = await job_state(js, job_id)
                    continue
                event = event_decoder.decode(msg.data)
                if isinstance(event, JobProgress):
                    last = event
                    on_progress(event)
        finally:
            await sub.unsubscribe()
        return last


def _waiting(job_id: str) -> JobProgress:
    return JobProgress(
        timestamp=time.time(),
        job_id=job_id,
        kind="",
        state="queued",
        message="queued: no worker has picked it up yet (is `codesift up` running?)",
    )
