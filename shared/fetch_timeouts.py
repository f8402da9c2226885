"""Work-around: FastStream 0.7.8 drops a half-collected batch when a nats-py 2.16 fetch times out.

FastStream's batch pull loop fetches until the batch is full or its wait is over, catching
`nats.errors.TimeoutError` around each fetch. nats-py's `fetch` raises the builtin `TimeoutError`
instead when its pull request expires right at the deadline (the path nats-io/nats.py#934 added),
which happens whenever a fetch finds nothing new. The loop task then dies (FastStream restarts it)
and the messages it had collected stay unacknowledged until the consumer's ack wait: measured
here, a p99 lag from publish to log line of 10 s (the ack wait) instead of about 40 ms.
nats' TimeoutError subclasses the builtin one, so catching the builtin catches both.
"""

from __future__ import annotations

import nats.errors
from faststream.nats.subscriber.usecases import stream_pull_subscriber


def catch_every_fetch_timeout() -> None:
    """Make FastStream's pull loops treat both kinds of fetch timeout as "nothing more for now"."""
    if stream_pull_subscriber.TimeoutError is nats.errors.TimeoutError:
        stream_pull_subscriber.TimeoutError = TimeoutError  # type: ignore[misc]
