import nats

from shared import subjects
from shared.streams import KV_BUCKETS, OBJECT_STORES, STREAMS, Buckets, bootstrap


async def test_bootstrap_creates_everything_and_is_idempotent(nats_server):
    nc = await nats.connect(nats_server.url)
    try:
        js = await bootstrap(nc)
        kv = await js.key_value(Buckets.REGISTRY)
        await kv.put("index", b"v1")
        await js.publish(subjects.CMD_INDEX, b"{}", headers={"Nats-Msg-Id": "job-1"})

        js = await bootstrap(nc)  # a second service starting: nothing is lost or reset

        assert (await (await js.key_value(Buckets.REGISTRY)).get("index")).value == b"v1"
        info = await js.stream_info("COMMANDS")
        assert info.state.messages == 1
        names = {s.config.name for s in await js.streams_info()}
        assert {c.name for c in STREAMS} <= names
        assert {f"KV_{c.bucket}" for c in KV_BUCKETS} <= names
        assert {f"OBJ_{b}" for b in OBJECT_STORES} <= names
    finally:
        await nc.close()


async def test_command_with_same_job_id_is_stored_once(nats_server):
    nc = await nats.connect(nats_server.url)
    try:
        js = await bootstrap(nc)
        for _ in range(3):
            await js.publish(subjects.CMD_INDEX, b"{}", headers={"Nats-Msg-Id": "job-7"})
        assert (await js.stream_info("COMMANDS")).state.messages == 1
    finally:
        await nc.close()
