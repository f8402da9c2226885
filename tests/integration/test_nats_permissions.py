"""The embedded nats-server's users and permissions, on a real nats-server run with the config file
`codesift up` writes: who may connect, and who may move the production model or send commands."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client

from codesift.nats_config import write_server_config
from codesift.supervisor import free_port
from shared import subjects
from shared.bus import NotAuthorized, connect
from shared.nats_auth import load_or_create_users
from shared.registry import MODEL_POINTER_KEY
from shared.settings import Settings
from shared.streams import Buckets, bootstrap
from tests.conftest import nats_server_binary

QUIET = 0.5  # seconds
MARKER = b"marker"


@dataclass
class AuthServer:
    url: str
    data_dir: Path
    users: dict[str, str]
    process: subprocess.Popen[bytes]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    data_dir = tmp_path_factory.mktemp("natsauth")
    users = load_or_create_users(data_dir)
    port = free_port()
    config = write_server_config(data_dir, port, data_dir / "nats", users)
    log = data_dir / "nats.log"
    proc = subprocess.Popen([nats_server_binary(), "-c", str(config), "-l", str(log)])
    deadline = time.monotonic() + 10
    while "Server is ready" not in (log.read_text() if log.exists() else ""):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"nats-server did not start: {log.read_text() if log.exists() else 'no log'}")
        time.sleep(0.02)
    yield AuthServer(f"nats://127.0.0.1:{port}", data_dir, users, proc)
    proc.terminate()
    proc.wait(timeout=10)


async def request_once_subscribed(nc: Client, subject: str, within: float = 3.0):
    """A request answered once the responder's subscription has reached the server: in one run of
    ~30 the gateway's first request right after the responder's flush met "no responders"."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await nc.request(subject, b"{}", timeout=2)
        except nats.errors.NoRespondersError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


@dataclass
class Login:
    nc: Client
    errors: list[str] = field(default_factory=list)

    def violations(self) -> list[str]:
        return [e for e in self.errors if "permissions violation" in e.lower()]


@pytest.fixture
async def login(server: AuthServer) -> AsyncIterator:
    opened: list[Login] = []

    async def open_as(kind: str) -> Login:
        entry = Login(None)  # type: ignore[arg-type]

        async def on_error(exc: Exception) -> None:
            entry.errors.append(str(exc))

        entry.nc = await nats.connect(server.url, user=kind, password=server.users[kind], error_cb=on_error)
        await bootstrap(entry.nc, replicas=1)
        opened.append(entry)
        return entry

    yield open_as
    for entry in opened:
        await entry.nc.close()


async def received(nc: Client, subject: str, sender: Client, body: bytes, marker_from: Client) -> list[bytes]:
    """What a subscriber on `subject` gets when `sender` publishes `body` there. `marker_from` then
    publishes a marker (again every QUIET seconds: this nats-server now and then drops a message
    published just after a subscription started, with or without authentication); once the marker
    arrives, anything `sender` got through would have arrived before it."""
    sub = await nc.subscribe(subject)
    await nc.flush()
    await sender.publish(subject, body)
    await sender.flush()
    got: list[bytes] = []
    try:
        for _ in range(20):
            await marker_from.publish(subject, MARKER)
            await marker_from.flush()
            with contextlib.suppress(TimeoutError, nats.errors.TimeoutError):
                while (data := (await sub.next_msg(timeout=QUIET)).data) != MARKER:
                    got.append(data)
                return got
        pytest.fail("not even the marker arrived")
    finally:
        await sub.unsubscribe()


async def test_a_client_without_credentials_is_refused_with_authorization_violation(server, tmp_path):
    settings = Settings(nats_url=server.url, data_dir=tmp_path)  # no credentials file there
    with pytest.raises(NotAuthorized) as err:
        await connect(settings, "test")
    message = str(err.value)
    assert "authorization violation" in message and "without credentials" in message
    assert "CODESIFT_NATS_USER" in message and "nats-users.json" in message


async def test_a_wrong_password_is_refused(server):
    settings = Settings(nats_url=server.url, nats_user="gateway", nats_password="not-the-password")
    with pytest.raises(NotAuthorized, match="refused user 'gateway': authorization violation"):
        await connect(settings, "test")
    with pytest.raises(nats.errors.NoServersError):  # and a raw client gets no further
        await nats.connect(server.url, user="promoter", password="guess", max_reconnect_attempts=1)


async def test_the_cli_finds_its_user_in_the_credentials_file(server):
    nc = await connect(Settings(nats_url=server.url, data_dir=server.data_dir), "cli")
    assert nc.is_connected
    await nc.close()


async def test_only_the_promoter_broadcasts_a_model_update(login):
    search, gateway, promoter = await login("search"), await login("gateway"), await login("promoter")
    body = b'{"type": "model_updated"}'
    assert await received(search.nc, subjects.MODEL_UPDATED, gateway.nc, body, promoter.nc) == []
    assert any(subjects.MODEL_UPDATED in v for v in gateway.violations())
    for _ in range(3):  # see received(): a lost message is published again
        if got := await received(search.nc, subjects.MODEL_UPDATED, promoter.nc, body, promoter.nc):
            break
    assert got == [body]
    assert promoter.violations() == []


async def test_only_the_promoter_writes_the_production_pointer(login):
    gateway, trainer, promoter = await login("gateway"), await login("trainer"), await login("promoter")
    kv = await promoter.nc.jetstream().key_value(Buckets.REGISTRY)
    revision = await kv.put(MODEL_POINTER_KEY, b'{"version": "good"}')
    for intruder in (gateway, trainer):
        with pytest.raises(nats.errors.TimeoutError):  # the server drops the write; nothing is stored
            await intruder.nc.jetstream().publish(
                f"$KV.{Buckets.REGISTRY}.{MODEL_POINTER_KEY}", b"{}", timeout=1
            )
        assert any("$kv.registry.model" in v.lower() for v in intruder.violations())
        with pytest.raises(nats.errors.TimeoutError):  # nor may it delete the stored pointer under the bucket
            delete = f"$JS.API.STREAM.MSG.DELETE.KV_{Buckets.REGISTRY}"  # what js.delete_msg sends
            await intruder.nc.request(delete, b'{"seq": %d}' % revision, timeout=1)
    entry = await kv.get(MODEL_POINTER_KEY)
    assert (entry.value, entry.revision) == (b'{"version": "good"}', revision)
    # what the others legitimately write in the same bucket still works
    trained = await trainer.nc.jetstream().key_value(Buckets.REGISTRY)
    assert await trained.put("trained.v1", b"{}") > revision


async def test_a_search_replica_sends_no_command_but_answers_requests(login):
    search, gateway = await login("search"), await login("gateway")
    js = search.nc.jetstream()
    with pytest.raises(nats.errors.TimeoutError):
        await js.publish(subjects.CMD_TRAIN, b"{}", timeout=1)
    assert any(subjects.CMD_TRAIN in v for v in search.violations())
    info = await js.stream_info("COMMANDS")
    assert info.state.messages == 0

    async def answer(msg) -> None:
        await msg.respond(b"pong")

    await search.nc.subscribe(subjects.SEARCH_PING, cb=answer)
    await search.nc.flush()
    assert (await request_once_subscribed(gateway.nc, subjects.SEARCH_PING)).data == b"pong"
    ack = await gateway.nc.jetstream().publish(subjects.CMD_TRAIN, b"{}", timeout=2)  # the gateway may
    assert ack.stream == "COMMANDS"
    await asyncio.sleep(0)
    assert search.violations() == [v for v in search.violations() if subjects.CMD_TRAIN in v]
