"""Online experiments over NATS for the gateway: start, stop, and every experiment's tally.

The experiment's state is KV `experiments` (shared/experiments.py); a candidate must be a
registered model (KV `registry` "trained.<version>", whose sha256 replicas check when they load it).
"""

from __future__ import annotations

import msgspec
import nats.errors
from nats.aio.client import Client
from nats.js.errors import KeyNotFoundError

from services.gateway.errors import Conflict, InvalidParameter, Unavailable
from shared.experiments import (
    Experiment,
    ExperimentError,
    Tally,
    read_running,
    start_experiment,
    stop_experiment,
    tallies,
)
from shared.schemas import ModelTrained
from shared.streams import Buckets

TRAINED_PREFIX = "trained."
_trained_decoder = msgspec.json.Decoder(ModelTrained)


class Experiments(msgspec.Struct):
    """GET /api/reranker/experiments: the running experiment (if any) and every tally, newest first."""

    running: Experiment | None
    experiments: list[Tally]


class ExperimentsClient:
    def __init__(self, nc: Client) -> None:
        self._js = nc.jetstream()

    async def start(self, version: str) -> Experiment:
        try:
            kv = await self._js.key_value(Buckets.REGISTRY)
            try:
                entry = await kv.get(TRAINED_PREFIX + version)
            except KeyNotFoundError:
                raise InvalidParameter(
                    "model", f"{version} is not a registered model (see GET /api/reranker/models)"
                ) from None
            trained = _trained_decoder.decode(entry.value or b"")
            return await start_experiment(self._js, trained.version, trained.sha256)
        except ExperimentError as exc:
            raise Conflict(str(exc)) from None
        except (nats.errors.Error, TimeoutError) as exc:
            raise Unavailable(f"the experiment was not started: the bus is unreachable ({exc!r})") from None

    async def stop(self) -> Experiment:
        try:
            return await stop_experiment(self._js)
        except ExperimentError as exc:
            raise Conflict(str(exc)) from None
        except (nats.errors.Error, TimeoutError) as exc:
            raise Unavailable(f"the experiment was not stopped: the bus is unreachable ({exc!r})") from None

    async def list(self) -> Experiments:
        try:
            return Experiments(running=await read_running(self._js), experiments=await tallies(self._js))
        except (nats.errors.Error, TimeoutError) as exc:
            raise Unavailable(f"the experiments are unreadable ({exc!r}): is the stack running?") from None
