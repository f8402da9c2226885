import nats


async def test_nats_server_fixture_has_jetstream(nats_server):
    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    info = await js.account_info()
    assert info.limits is not None
    await nc.close()
