"""Finding and talking to the stack's NATS server."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg

from shared.nats_auth import CredentialsError, credentials, users_file
from shared.settings import Settings

STACK_FILE = "stack.json"
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


async def _log_error(exc: Exception) -> None:
    """One line per connection error instead of nats-py's traceback on every reconnect attempt."""
    log.warning("nats: %s", exc or type(exc).__name__)


async def gather(nc: Client, subject: str, payload: bytes, wait: float = 0.3) -> list[bytes]:
    """Publish one request and collect every reply that arrives within `wait` seconds."""
    inbox = nc.new_inbox()
    replies: list[bytes] = []
    sub = await nc.subscribe(inbox, cb=None)
    try:
        await nc.publish(subject, payload, reply=inbox)
        await nc.flush()
        deadline = asyncio.get_running_loop().time() + wait
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
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    while True:
        left = timeout - (loop.time() - start)
        try:
            return await nc.request(subject, payload, timeout=max(0.05, min(attempt_timeout, left)))
        except nats.errors.NoRespondersError:
            if loop.time() - start + 0.1 >= min(timeout, no_responders_for):
                raise
            await asyncio.sleep(0.1)
        except nats.errors.TimeoutError:
            if loop.time() - start >= timeout - 0.05:
                raise
