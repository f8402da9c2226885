"""Talking to the search replicas over NATS: one request/reply per search, a ping to find them all
(and one to find every other service, for health)."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit, urlunsplit

import msgspec
import nats.errors
from nats.aio.client import Client

from services.gateway.errors import BadReply, InvalidParameter, Unavailable
from shared.bus import gather, request, server_list, wait_connected
from shared.schemas import ReplicaInfo, SearchReply, SearchRequest, SearchResponse, ServiceInfo, encoder
from shared.subjects import SEARCH_PING, SEARCH_QUERY, SERVICE_PING

logger = logging.getLogger(__name__)

HOW_TO_START = "is the stack running? Start it with `codesift up`"
PING_WAIT = 0.3  # seconds to collect SEARCH_PING answers: every replica answers in well under that

# A replica's Problem names SearchRequest's field; the HTTP client sent the query parameter.
_PARAMETER_OF_FIELD = {"query": "q"}

_reply_decoder = msgspec.json.Decoder(SearchReply)
_info_decoder = msgspec.json.Decoder(ReplicaInfo)
_service_decoder = msgspec.json.Decoder(ServiceInfo)


def redact(url: str) -> str:
    """The server URL(s) without user names and passwords, fit to show in health answers."""
    return ",".join(_redact_one(server) for server in server_list(url))


def _redact_one(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


class SearchClient:
    """The gateway's one NATS connection, seen as the search service."""

    def __init__(self, nc: Client, url: str, *, timeout: float, ping_wait: float = PING_WAIT) -> None:
        self._nc = nc
        self.url = redact(url)
        self._timeout = timeout
        self._ping_wait = min(ping_wait, timeout)

    @property
    def connected(self) -> bool:
        return self._nc.is_connected

    async def search(self, search: SearchRequest) -> SearchResponse:
        """Ask one replica (queue group) to search; raise a GatewayError when none can."""
        began = time.monotonic()
        if not await wait_connected(self._nc, self._timeout / 2):  # a bus restart: wait, then ask
            raise Unavailable(f"the message bus at {self.url} is unreachable: {HOW_TO_START}")
        timeout = max(0.5, self._timeout - (time.monotonic() - began))
        try:
            msg = await request(self._nc, SEARCH_QUERY, encoder.encode(search), timeout=timeout)
        except nats.errors.NoRespondersError:
            raise Unavailable(f"no search replica is running: {HOW_TO_START}") from None
        except nats.errors.TimeoutError:
            raise Unavailable(
                f"no search replica answered within {self._timeout:g} s: {HOW_TO_START}"
            ) from None
        except nats.errors.Error as exc:
            raise Unavailable(f"the message bus at {self.url} failed ({exc!r}): {HOW_TO_START}") from None
        try:
            reply = _reply_decoder.decode(msg.data)
        except msgspec.DecodeError as exc:
            raise BadReply(f"a search replica answered something unreadable: {exc}") from None
        if reply.error is not None:
            field = _PARAMETER_OF_FIELD.get(reply.error.field, reply.error.field)
            raise InvalidParameter(field, reply.error.message)
        if reply.response is None:
            raise BadReply("a search replica answered neither a response nor an error")
        return reply.response

    async def ping(self) -> list[ReplicaInfo]:
        """Every replica that answers SEARCH_PING within the ping wait, sorted by replica id."""
        if not self.connected:
            return []
        infos = []
        for data in await gather(self._nc, SEARCH_PING, b"", self._ping_wait):
            try:
                infos.append(_info_decoder.decode(data))
            except msgspec.DecodeError as exc:
                logger.warning("ignoring an unreadable ping answer: %s", exc)
        return sorted(infos, key=lambda info: info.replica_id)

    async def ping_services(self) -> list[ServiceInfo]:
        """Every other service that answers SERVICE_PING within the ping wait, sorted by name."""
        if not self.connected:
            return []
        infos = []
        for data in await gather(self._nc, SERVICE_PING, b"", self._ping_wait):
            try:
                infos.append(_service_decoder.decode(data))
            except msgspec.DecodeError as exc:
                logger.warning("ignoring an unreadable service ping answer: %s", exc)
        return sorted(infos, key=lambda info: info.service)
