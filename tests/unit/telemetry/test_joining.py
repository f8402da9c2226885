import nats
import pytest

from services.telemetry.joining import ImpressionJoiner
from shared import subjects
from shared.schemas import Impression, ShownResult, encoder
from shared.streams import bootstrap

SHOWN = "0123456789abcdef0123456789abcdef"
NEVER = "ffffffffffffffffffffffffffffffff"


def impression(query_id: str, reranker: str = "none (fusion order)") -> Impression:
    return Impression(
        query_id=query_id,
        query="q",
        repo=None,
        k=10,
        results=[ShownResult(1, "a.py:1-5", "demo", "a.py", 1.0)],
        reranker=reranker,
        model_version=None,
        index_version="idx-1",
        replica_id="search-1",
        timestamp=1_790_000_000.0,
    )


@pytest.fixture
async def js(nats_server):
    nc = await nats.connect(nats_server.url)
    yield await bootstrap(nc)
    await nc.close()


async def test_found_missing_and_malformed_impressions(js):
    await js.publish(subjects.impression_subject(SHOWN), encoder.encode(impression(SHOWN)))
    await js.publish(subjects.impression_subject("a" * 32), b"not an impression")
    lookup = await ImpressionJoiner(js).find_many([SHOWN, NEVER, "a" * 32, SHOWN])
    assert lookup.found == {SHOWN: impression(SHOWN)}
    assert lookup.unavailable == set()


async def test_found_impressions_are_served_from_memory(js):
    await js.publish(subjects.impression_subject(SHOWN), encoder.encode(impression(SHOWN)))
    joiner = ImpressionJoiner(js, cache_size=1)
    assert SHOWN in (await joiner.find_many([SHOWN])).found
    await js.purge_stream("IMPRESSIONS")
    assert (await joiner.find_many([SHOWN])).found == {SHOWN: impression(SHOWN)}

    other = "b" * 32
    await js.publish(subjects.impression_subject(other), encoder.encode(impression(other)))
    assert other in (await joiner.find_many([other])).found  # evicts SHOWN: the cache holds one
    assert (await joiner.find_many([SHOWN])).found == {}


async def test_an_impression_published_late_is_found_on_a_later_lookup(js):
    joiner = ImpressionJoiner(js)
    assert (await joiner.find_many([SHOWN])).found == {}  # a miss is not remembered
    await js.publish(subjects.impression_subject(SHOWN), encoder.encode(impression(SHOWN)))
    assert (await joiner.find_many([SHOWN])).found == {SHOWN: impression(SHOWN)}


async def test_lookups_that_fail_are_reported_unavailable(nats_server):
    nc = await nats.connect(nats_server.url, allow_reconnect=False)
    js = await bootstrap(nc)
    nats_server.stop()
    await nc.close()
    lookup = await ImpressionJoiner(js).find_many([SHOWN])
    assert lookup.found == {} and lookup.unavailable == {SHOWN}
