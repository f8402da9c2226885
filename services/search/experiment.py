"""Keeps a replica's online experiment in step with KV `experiments` "running" (shared/experiments.py).

The replica watches the key: the current value arrives first (a replica started late joins the
running experiment), every change after it. A started experiment's candidate is loaded like any
model (download, sha256, warm; a prepared model is a lookup) before the replica interleaves it; a
stopped one ends interleaving at once. A candidate that cannot be loaded is reported in the log
and `reranker_error`, and the replica serves production alone.
"""

from __future__ import annotations

import asyncio
import logging

import nats.errors
from nats.js import JetStreamContext
from nats.js.kv import KV_DEL, KV_PURGE

from services.search.model_loader import RerankerLoader
from services.search.replica import Replica, RunningExperiment
from shared.experiments import RUNNING_KEY, Experiment, decode_experiment
from shared.streams import Buckets

log = logging.getLogger("codesift.search")
RETRY_S = 5.0


class ExperimentWatcher:
    def __init__(self, replica: Replica, loader: RerankerLoader, js: JetStreamContext):
        self.replica = replica
        self.loader = loader
        self.js = js

    async def run(self) -> None:
        """Watch the running experiment for ever (run it as a task); re-watch after a bus failure."""
        while True:
            try:
                await self._watch()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s cannot watch the experiment: %s", self.replica.replica_id, exc)
                await asyncio.sleep(RETRY_S)

    async def _watch(self) -> None:
        kv = await self.js.key_value(Buckets.EXPERIMENTS)
        watcher = await kv.watch(RUNNING_KEY)
        try:
            while True:
                try:
                    entry = await watcher.updates(timeout=60.0)
                except nats.errors.TimeoutError:
                    continue
                if entry is None:  # the marker after the current value (or of no value)
                    continue
                deleted = entry.operation in (KV_DEL, KV_PURGE)
                await self.apply(None if deleted else decode_experiment(entry.value))
        finally:
            await watcher.stop()

    async def apply(self, experiment: Experiment | None) -> None:
        replica = self.replica
        if experiment is None:
            if replica.experiment is not None:
                log.info("%s stops experiment %s", replica.replica_id, replica.experiment.experiment_id)
            replica.experiment = None
            return
        current = replica.experiment
        if current is not None and current.experiment_id == experiment.experiment_id:
            return
        try:
            candidate = await self.loader.load_candidate(experiment.version, experiment.sha256)
        except Exception as exc:
            replica.experiment = None
            replica.reranker_error = f"experiment {experiment.experiment_id}: {experiment.version}: {exc}"
            log.error("%s cannot run experiment %s: %s", replica.replica_id, experiment.experiment_id, exc)
            return
        replica.experiment = RunningExperiment(experiment.experiment_id, candidate)
        log.info(
            "%s interleaves %s with production (experiment %s)",
            replica.replica_id,
            experiment.version,
            experiment.experiment_id,
        )
