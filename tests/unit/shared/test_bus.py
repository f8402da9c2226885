import contextlib
import time

import pytest

from shared.bus import StackNotRunning, connect, gather, server_list, wait_connected
from shared.settings import Settings
from tests.conftest import start_nats


def test_server_list_splits_a_cluster_url():
    assert server_list("nats://a:4222, nats://b:4222,") == ["nats://a:4222", "nats://b:4222"]


async def test_connect_fails_fast_with_how_to_start_when_nothing_listens(tmp_path):
    started = time.monotonic()
    with pytest.raises(StackNotRunning) as err:
        await connect(Settings(nats_url="nats://127.0.0.1:9", data_dir=tmp_path), "test")
    assert time.monotonic() - started < 10
    assert "codesift up" in str(err.value)


async def test_connect_without_stack_file_names_it(tmp_path):
    with pytest.raises(StackNotRunning) as err:
        await connect(Settings(data_dir=tmp_path), "test")
    assert "stack.json" in str(err.value)


async def test_service_connection_survives_a_nats_restart(tmp_path):
    server = start_nats(tmp_path / "n")
    nc = await connect(Settings(nats_url=server.url), "svc", reconnect=True)
    try:
        server.stop()
        server = start_nats(tmp_path / "n", port=server.port)
        deadline = time.monotonic() + 10
        while not nc.is_connected and time.monotonic() < deadline:
            import asyncio

            await asyncio.sleep(0.05)
        assert nc.is_connected
    finally:
        await nc.close()
        server.stop()


async def test_wait_connected_holds_a_caller_through_a_nats_restart(tmp_path):
    import asyncio

    server = start_nats(tmp_path / "n")
    nc = await connect(Settings(nats_url=server.url), "gateway", reconnect=True)
    try:
        server.stop()
        while nc.is_connected:
            await asyncio.sleep(0.01)
        assert await wait_connected(nc, 0.2) is False  # still down: gives up after its timeout
        waiting = asyncio.create_task(wait_connected(nc, 10))
        await asyncio.sleep(0.3)
        server = start_nats(tmp_path / "n", port=server.port)
        assert await waiting is True
        assert nc.is_connected
    finally:
        await nc.close()
        server.stop()
    started = time.monotonic()
    assert await wait_connected(nc, 10) is False  # closed, not reconnecting: at once
    assert time.monotonic() - started < 0.5


async def test_gather_takes_no_longer_than_its_wait_while_nats_is_down(tmp_path):
    import asyncio

    server = start_nats(tmp_path / "n")
    nc = await connect(Settings(nats_url=server.url), "gateway", reconnect=True)
    try:
        server.stop()
        while nc.is_connected:
            await asyncio.sleep(0.01)
        started = time.monotonic()
        assert await gather(nc, "codesift.search.ping", b"", wait=0.3) == []
        assert time.monotonic() - started < 1.0  # not nats-py's 10 s flush timeout
    finally:
        with contextlib.suppress(OSError):  # nats-py's close while it reconnects to nothing
            await nc.close()


async def test_request_retries_past_a_replica_that_never_answers(nats_server):
    import nats as nats_py

    from shared.bus import request

    nc = await nats_py.connect(nats_server.url)
    swallowed = []

    async def dead_replica(msg):  # holds the request and dies, as a SIGKILLed replica does
        swallowed.append(msg)

    async def live_replica(msg):
        await msg.respond(b"ok:" + msg.data)

    await nc.subscribe("t.search", queue="replicas", cb=dead_replica)
    await nc.subscribe("t.search", queue="replicas", cb=live_replica)
    try:
        for i in range(8):
            msg = await request(nc, "t.search", str(i).encode(), timeout=5, attempt_timeout=0.2)
            assert msg.data == f"ok:{i}".encode()
        assert swallowed, "the queue group never picked the dead replica: the test proves nothing"
    finally:
        await nc.close()


async def test_request_gives_up_on_no_responders(nats_server):
    import nats as nats_py

    from shared.bus import request

    nc = await nats_py.connect(nats_server.url)
    try:
        started = time.monotonic()
        with pytest.raises(nats_py.errors.NoRespondersError):
            await request(nc, "t.nobody", b"x", timeout=5, no_responders_for=0.5)
        assert 0.4 < time.monotonic() - started < 2
    finally:
        await nc.close()


async def test_each_attempt_carries_its_deadline_and_a_late_one_reads_as_expired(nats_server):
    import nats as nats_py

    from shared.bus import DEADLINE_HEADER, expired, request

    nc = await nats_py.connect(nats_server.url)
    held = []

    async def slow_replica(msg):  # queued behind an overload: gets to the request only later
        held.append(msg)
        if len(held) > 1:
            await msg.respond(b"ok")

    await nc.subscribe("t.search", cb=slow_replica)
    try:
        sent = time.time()
        msg = await request(nc, "t.search", b"x", timeout=5, attempt_timeout=0.3)
        assert msg.data == b"ok" and len(held) == 2  # the first attempt timed out, the second answered
        deadlines = [float(m.headers[DEADLINE_HEADER]) for m in held]
        assert sent + 0.25 < deadlines[0] < sent + 0.5
        assert deadlines[1] > deadlines[0]
        assert expired(held[0].headers)  # the first attempt's asker has given up: skip its work
        assert not expired(None) and not expired({DEADLINE_HEADER: "not a number"})
    finally:
        await nc.close()
