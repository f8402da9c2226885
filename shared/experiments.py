"""Online experiments: a candidate model interleaved with production on live searches (KV `experiments`).

Keys of the bucket:

- "running": the `Experiment` replicas interleave now (deleted when it stops). Replicas watch it,
  so a late-started one sees it too. The gateway and the CLI start and stop experiments.
- "exp.<id>": every experiment ever started, with when it stopped (the record the tallies name).
- "search.<id>.<query_id>": one interleaved search's credited clicks, `{doc_id: side}`, written
  by the telemetry service. A doc clicked twice counts once; a search has one key, so it is
  counted once however many clicks (or redeliveries) reach it.

The tally (wins / losses / ties of the candidate, the sign test's p-value) is computed from the
per-search keys whenever it is asked for (`read_tally`): it is exact by construction (no running
count to drift after a crash between two writes) and reads one message per clicked search.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import msgspec
import nats.errors
from nats.js import JetStreamContext
from nats.js.errors import (
    BadRequestError,
    KeyDeletedError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
)

from shared.interleaving import CANDIDATE, PRODUCTION, outcome, sign_test
from shared.registry import read_model_pointer
from shared.streams import Buckets

RUNNING_KEY = "running"
EXPERIMENT_PREFIX = "exp."
SEARCH_PREFIX = "search."
SIGNIFICANCE = 0.05
WATCH_TIMEOUT_S = 5.0


class Experiment(msgspec.Struct):
    experiment_id: str
    version: str  # the candidate model
    sha256: str  # of its archive in the object store `models`
    started_at: float
    stopped_at: float | None = None


class SearchCredits(msgspec.Struct):
    """One interleaved search's clicks credited to a team: doc_id -> "production" | "candidate"."""

    clicks: dict[str, str] = {}


class Tally(msgspec.Struct):
    """The candidate's record against production in one experiment."""

    experiment_id: str
    version: str
    started_at: float
    stopped_at: float | None
    running: bool
    wins: int  # searches whose clicks went more to the candidate's results
    losses: int
    ties: int
    p_value: float  # exact two-sided sign test, wins vs losses
    winner: str | None  # "candidate" | "production" once p < 0.05, else None


class ExperimentError(ValueError):
    """An experiment cannot be started or stopped as asked; the message says why."""


_experiment_decoder = msgspec.json.Decoder(Experiment)
_credits_decoder = msgspec.json.Decoder(SearchCredits)


def search_key(experiment_id: str, query_id: str) -> str:
    return f"{SEARCH_PREFIX}{experiment_id}.{query_id}"


async def read_running(js: JetStreamContext) -> Experiment | None:
    kv = await js.key_value(Buckets.EXPERIMENTS)
    try:
        entry = await kv.get(RUNNING_KEY)
    except (KeyNotFoundError, KeyDeletedError):
        return None
    return _experiment_decoder.decode(entry.value) if entry.value else None


def decode_experiment(value: bytes | None) -> Experiment | None:
    return _experiment_decoder.decode(value) if value else None


async def start_experiment(js: JetStreamContext, version: str, sha256: str) -> Experiment:
    """Interleave `version` with production from now on; refused while another experiment runs."""
    running = await read_running(js)
    if running is not None:
        raise ExperimentError(
            f"experiment {running.experiment_id} on {running.version} is running: stop it first"
        )
    production = await read_model_pointer(js)
    if production is not None and production.version == version:
        raise ExperimentError(f"{version} is in production already: there is nothing to compare it with")
    experiment = Experiment(uuid.uuid4().hex[:12], version, sha256, time.time())
    kv = await js.key_value(Buckets.EXPERIMENTS)
    data = msgspec.json.encode(experiment)
    await kv.put(EXPERIMENT_PREFIX + experiment.experiment_id, data)
    await kv.put(RUNNING_KEY, data)
    return experiment


async def stop_experiment(js: JetStreamContext) -> Experiment:
    """Stop the running experiment (its tally stays readable); refused when none runs."""
    running = await read_running(js)
    if running is None:
        raise ExperimentError("no experiment is running")
    kv = await js.key_value(Buckets.EXPERIMENTS)
    stopped = msgspec.structs.replace(running, stopped_at=time.time())
    await kv.put(EXPERIMENT_PREFIX + running.experiment_id, msgspec.json.encode(stopped))
    await kv.delete(RUNNING_KEY)
    return stopped


async def experiments(js: JetStreamContext) -> list[Experiment]:
    """Every experiment started, newest first."""
    found = [decode_experiment(value) for value in await latest_values(js, EXPERIMENT_PREFIX + "*")]
    return sorted((e for e in found if e is not None), key=lambda e: e.started_at, reverse=True)


async def latest_values(js: JetStreamContext, pattern: str) -> list[bytes]:
    """The value of every key matching `pattern` (a NATS subject filter), deleted keys left out:
    one ordered consumer delivering the last message per key."""
    kv = await js.key_value(Buckets.EXPERIMENTS)
    watcher = await kv.watch(pattern, ignore_deletes=True)
    values: list[bytes] = []
    try:
        while True:
            try:
                entry = await watcher.updates(timeout=WATCH_TIMEOUT_S)
            except nats.errors.TimeoutError:
                raise TimeoutError(f"KV {Buckets.EXPERIMENTS} {pattern}: no answer in time") from None
            if entry is None:
                break
            values.append(entry.value or b"")
            if entry.delta == 0:
                break
    finally:
        await watcher.stop()
    return values


async def credit_click(
    js: JetStreamContext, experiment_id: str, query_id: str, doc_id: str, side: str
) -> bool:
    """Credit a click on `doc_id` (shown by team `side`) in one search; False when it was credited before.

    Compare-and-set on the search's key: two telemetry consumers crediting the same search at once
    both land.
    """
    if side not in (PRODUCTION, CANDIDATE):
        raise ValueError(f"side: {side!r} is neither {PRODUCTION!r} nor {CANDIDATE!r}")
    kv = await js.key_value(Buckets.EXPERIMENTS)
    key = search_key(experiment_id, query_id)
    for _ in range(10):
        try:
            entry = await kv.get(key)
            credits, revision = _credits_decoder.decode(entry.value or b"{}"), entry.revision
        except (KeyNotFoundError, KeyDeletedError):
            credits, revision = SearchCredits(), None
        if doc_id in credits.clicks:
            return False
        value = msgspec.json.encode(SearchCredits({**credits.clicks, doc_id: side}))
        try:
            if revision is None:
                await kv.create(key, value)
            else:
                await kv.update(key, value, last=revision)
            return True
        except KeyWrongLastSequenceError:
            continue  # someone else wrote the key in between: read it again
        except BadRequestError:
            continue  # create() of a key that exists now
    raise TimeoutError(f"{key}: too many concurrent writers")


async def outcomes(js: JetStreamContext, experiment_id: str) -> list[str]:
    """Each clicked search's outcome for the candidate ("win" | "loss" | "tie")."""
    found = []
    for value in await latest_values(js, f"{SEARCH_PREFIX}{experiment_id}.*"):
        result = outcome(_credits_decoder.decode(value or b"{}").clicks.values())
        if result is not None:
            found.append(result)
    return found


async def read_tally(js: JetStreamContext, experiment: Experiment, running: bool | None = None) -> Tally:
    results = await outcomes(js, experiment.experiment_id)
    return tally(experiment, results, running if running is not None else experiment.stopped_at is None)


def tally(experiment: Experiment, results: list[str], running: bool) -> Tally:
    wins, losses, ties = results.count("win"), results.count("loss"), results.count("tie")
    p = sign_test(wins, losses)
    winner = None
    if p < SIGNIFICANCE:
        winner = CANDIDATE if wins > losses else PRODUCTION
    return Tally(
        experiment_id=experiment.experiment_id,
        version=experiment.version,
        started_at=experiment.started_at,
        stopped_at=experiment.stopped_at,
        running=running,
        wins=wins,
        losses=losses,
        ties=ties,
        p_value=p,
        winner=winner,
    )


async def tallies(js: JetStreamContext) -> list[Tally]:
    """Every experiment's tally, newest first (the running one marked)."""
    running = await read_running(js)
    found = await experiments(js)
    return list(
        await asyncio.gather(
            *(
                read_tally(js, e, running is not None and running.experiment_id == e.experiment_id)
                for e in found
            )
        )
    )


async def latest_tally(js: JetStreamContext, version: str) -> Tally | None:
    """The tally of the newest experiment on `version` (None: it never was in one)."""
    for experiment in await experiments(js):
        if experiment.version == version:
            return await read_tally(js, experiment)
    return None
