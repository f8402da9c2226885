"""Finding and talking to the stack's NATS server."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from shared.nats_auth import CredentialsError, credentials, users_file
from shared.settings import Settings

STACK_FILE = "stack.json"
DEADLINE_HEADER = "Codesift-Deadline"  # seconds since the epoch after which a request's asker gave up
log = logging.getLogger("codesift.bus")


class StackNotRunning(RuntimeError):
    """No codesift stack answers; the message says how to start one."""


class NotAuthorized(StackNotRunning):
    """nats-server answers but refuses these credentials (or their absence); the message says why."""


def stack_file(data_dir: Path) -> Path:
    return Path(data_dir) / STACK_FILE


def resolve_nats_url(settings: Settings) -> str:
    """CODESIFT_NATS_URL when set, else the URL `codesift up` wrote to DATA_DIR/stack.json."""
    if settings.nats_url:
        return settings.nats_url
    path = stack_file(settings.data_dir)
    try:
        return str(json.loads(path.read_text())["nats_url"])
    except (OSError, ValueError, KeyError):
        raise StackNotRunning(how_to_start(settings, f"no {path}")) from None


def server_list(url: str) -> list[str]:
    """'nats://a:4222,nats://b:4222' -> both servers (nats-py and FastStream take a list)."""
    return [part.strip() for part in url.split(",") if part.strip()]


def how_to_start(settings: Settings, why: str) -> str:
    return (
        f"No codesift stack is running ({why}). Start one with `codesift up --data-dir "
        f"{settings.data_dir}` (or `make run`), or point CODESIFT_NATS_URL at a running one."
    )


async def connect(settings: Settings, name: str, *, reconnect: bool = False) -> Client:
    """Connect to the stack's NATS; raise StackNotRunning with a one-line explanation if none answers.

    Services pass reconnect=True: once connected they keep retrying while nats-server restarts.
    (nats-py retries the *first* connect forever unless max_reconnect_attempts is positive, so the
    first attempt is bounded and unlimited reconnects are switched on only after it succeeded.)
    """
    url = resolve_nats_url(settings)
    try:
        login = credentials(settings)
    except CredentialsError as exc:
        raise NotAuthorized(str(exc)) from None
    errors: list[Exception] = []  # what the first attempts met (an authorization violation)
    connected = False

    async def on_error(exc: Exception) -> None:
        if not connected and len(errors) < 10:
            errors.append(exc)
            if authorization_violation(exc):  # said once, with the fix, when connect gives up
                return
        await _log_error(exc)

    try:
        nc = await nats.connect(
            server_list(url),
            name=name,
            connect_timeout=2,
            allow_reconnect=True,
            max_reconnect_attempts=1,
            reconnect_time_wait=0.25,
            error_cb=on_error,
            **login_options(login),
        )
    except (TimeoutError, OSError, nats.errors.Error) as exc:
        if any(authorization_violation(e) for e in [exc, *errors]):
            raise NotAuthorized(not_authorized(settings, url, login)) from None
        raise StackNotRunning(
            how_to_start(settings, f"nothing answers at {url}: {exc or type(exc).__name__}")
        ) from None
    connected = True
    nc.options["max_reconnect_attempts"] = -1 if reconnect else 0
    nc.options["allow_reconnect"] = reconnect
    return nc


def authorization_violation(exc: BaseException) -> bool:
    return "authorization violation" in str(exc).lower()


def login_options(login: tuple[str, str] | None) -> dict[str, str]:
    """user= and password= for nats.connect (none when the server needs none)."""
    return {"user": login[0], "password": login[1]} if login else {}


def nats_login(settings: Settings) -> dict[str, str]:
    """nats.connect's user= and password= for these settings (shared.nats_auth.credentials)."""
    return login_options(credentials(settings))


def not_authorized(settings: Settings, url: str, login: tuple[str, str] | None) -> str:
    who = f"user {login[0]!r}" if login else "a connection without credentials"
    return (
        f"nats-server at {url} refused {who}: authorization violation. A stack started by "
        f"`codesift up` requires the credentials it wrote to {users_file(settings.data_dir)}: run the "
        "command with that stack's --data-dir (as the user who started it), or set "
        "CODESIFT_NATS_USER and CODESIFT_NATS_PASSWORD."
    )


async def log_connection_error(exc: Exception) -> None:
    """One line per connection error instead of nats-py's traceback on every reconnect attempt."""
    log.warning("nats: %s", exc or type(exc).__name__)


_log_error = log_connection_error


async def wait_connected(nc: Client, timeout: float) -> bool:
    """While nats-py reconnects (nats-server restarting), wait up to `timeout` s for the connection.

    Returns at once when connected, or when the client is closed rather than reconnecting. A
    request held this way is answered after a bus restart of a second or two instead of failing.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not nc.is_connected:
        if not nc.is_reconnecting or loop.time() >= deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def gather(nc: Client, subject: str, payload: bytes, wait: float = 0.3) -> list[bytes]:
    """Publish one request and collect every reply that arrives within `wait` seconds.

    Never longer: when the connection drops meanwhile (nats-server restarting), no reply comes and
    none is returned; the flush would otherwise wait nats-py's 10 s for the server's answer.
    """
    inbox = nc.new_inbox()
    replies: list[bytes] = []
    sub = await nc.subscribe(inbox, cb=None)
    try:
        deadline = asyncio.get_running_loop().time() + wait
        try:
            await nc.publish(subject, payload, reply=inbox)
            await nc.flush(timeout=wait)
        except (TimeoutError, OSError, nats.errors.Error):
            return replies
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            try:
                msg = await sub.next_msg(timeout=left)
            except (TimeoutError, nats.errors.TimeoutError):
                break
            if msg.data:  # an empty message with status 503 means "no responders" (none yet)
                replies.append(msg.data)
    finally:
        await sub.unsubscribe()
    return replies


def expired(headers: Mapping[str, str] | None) -> bool:
    """Has the asker of a request given up (its DEADLINE_HEADER has passed)? Then skip the work.

    The deadline is wall-clock time: the machines' clocks must agree within a fraction of the
    attempt timeout (NTP does).
    """
    value = (headers or {}).get(DEADLINE_HEADER)
    if not value:
        return False
    try:
        return time.time() > float(value)
    except ValueError:
        return False


async def request(
    nc: Client,
    subject: str,
    payload: bytes,
    *,
    timeout: float,
    attempt_timeout: float = 5.0,
    no_responders_for: float = 2.0,
) -> Msg:
    """Request/reply for idempotent requests (searches), retried within `timeout` seconds in all.

    A replica killed while it holds a request never answers it: after `attempt_timeout` the request
    goes again, to another member of the queue group. The attempt timeout is well above a slow
    reranked search (p99 ~0.5 s, ~1 s under load) so that a retry never doubles the work of an
    overloaded stack. "No responders" (every replica restarting) is
    retried for `no_responders_for` seconds. The last error is raised when time is up.

    Each attempt carries its deadline (header DEADLINE_HEADER): a replica that gets to it later
    skips it, so an overloaded stack does not spend itself on answers nobody waits for any more
    (without it, the attempts given up on queue behind each other and every search times out
    long after the overload has passed).
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    while True:
        left = timeout - (loop.time() - start)
        attempt = max(0.05, min(attempt_timeout, left))
        headers = {DEADLINE_HEADER: f"{time.time() + attempt:.3f}"}
        try:
            return await nc.request(subject, payload, timeout=attempt, headers=headers)
        except nats.errors.NoRespondersError:
            if loop.time() - start + 0.1 >= min(timeout, no_responders_for):
                raise
            await asyncio.sleep(0.1)
        except nats.errors.TimeoutError:
            if loop.time() - start >= timeout - 0.05:
                raise
