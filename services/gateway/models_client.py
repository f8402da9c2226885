"""The reranker's models as the registry, the evaluations and the audit trail record them.

Reads only: KV `registry` ("model": the production pointer; "trained.<version>": every registered
model), KV `evals` (the latest evaluation of each version, and "latest"), DATA_DIR/evals/latest.json
(where the evaluator also writes the latest), and the promoter's decisions in stream EVENTS.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import msgspec
import nats.errors
from nats.aio.client import Client
from nats.js import api
from nats.js.errors import KeyNotFoundError, NoKeysError, NotFoundError

from services.gateway.errors import Unavailable
from shared import subjects
from shared.artifacts import MANIFEST
from shared.paths import name_problem
from shared.registry import MODEL_POINTER_KEY, pointer_decoder
from shared.schemas import ModelPointer, ModelTrained, PromotionDecision
from shared.streams import Buckets

logger = logging.getLogger(__name__)

TRAINED_PREFIX = "trained."
LATEST_KEY = "latest"
EVENTS_STREAM = "EVENTS"
DECISIONS_BATCH = 256

_trained_decoder = msgspec.json.Decoder(ModelTrained)
_decision_decoder = msgspec.json.Decoder(PromotionDecision)


class ModelsClient:
    """Production pointer, trained models, evaluations and promotion decisions, over NATS."""

    def __init__(self, nc: Client, data_dir: Path) -> None:
        self._js = nc.jetstream()
        self.models_dir = Path(data_dir) / "models"
        self._latest_file = Path(data_dir) / "evals" / "latest.json"

    async def production(self) -> ModelPointer | None:
        """The production pointer, or None while no model was promoted (or after a rollback to none)."""
        value = await self._get(Buckets.REGISTRY, MODEL_POINTER_KEY)
        return pointer_decoder.decode(value) if value else None

    async def trained(self) -> list[ModelTrained]:
        """Every registered model (unreadable entries are logged and skipped)."""
        models = []
        for key in await self._keys(Buckets.REGISTRY):
            if not key.startswith(TRAINED_PREFIX):
                continue
            value = await self._get(Buckets.REGISTRY, key)
            try:
                models.append(_trained_decoder.decode(value or b""))
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                logger.warning("registry %s is unreadable: %s", key, exc)
        return models

    async def manifest(self, version: str) -> dict[str, Any] | None:
        """`version`'s manifest: as registered (KV registry "trained.<version>"), else the one in its
        model directory on this machine, else None."""
        value = await self._get(Buckets.REGISTRY, TRAINED_PREFIX + version)
        if value:
            try:
                return dict(_trained_decoder.decode(value).manifest)
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                logger.warning("registry %s%s is unreadable: %s", TRAINED_PREFIX, version, exc)
        if name_problem(version) is not None:  # a version from the registry: never a path
            return None
        local = self.models_dir / version / MANIFEST
        return _object(local.read_bytes(), str(local)) if local.is_file() else None

    async def evaluation(self, version: str) -> dict[str, Any] | None:
        """The latest evaluation of `version` (a ModelEvaluated object), or None."""
        value = await self._get(Buckets.EVALS, version)
        return _object(value, f"evals {version}") if value else None

    async def latest_evaluation(self) -> dict[str, Any] | None:
        """The latest evaluation of any model: KV evals "latest", else DATA_DIR/evals/latest.json."""
        found = await self.evaluation(LATEST_KEY)
        if found is None and self._latest_file.is_file():
            found = _object(self._latest_file.read_bytes(), str(self._latest_file))
        return found

    async def decisions(self) -> dict[str, PromotionDecision]:
        """The promoter's latest decision to promote each version (or not), from stream EVENTS."""
        try:
            await self._js.get_last_msg(EVENTS_STREAM, subjects.MODEL_DECISION)
        except NotFoundError:
            return {}  # no decision yet (or no stream): nothing to read
        except nats.errors.Error as exc:
            raise Unavailable(f"the promotion decisions are unreadable ({exc!r})") from None
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.ALL,
            ack_policy=api.AckPolicy.NONE,
            inactive_threshold=10.0,
            mem_storage=True,
        )
        sub = await self._js.pull_subscribe(subjects.MODEL_DECISION, stream=EVENTS_STREAM, config=config)
        latest: dict[str, PromotionDecision] = {}
        try:
            while True:
                messages = await sub.fetch(DECISIONS_BATCH, timeout=1.0)
                for msg in messages:
                    try:
                        decision = _decision_decoder.decode(msg.data)
                    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                        logger.warning("a promotion decision is unreadable: %s", exc)
                        continue
                    if decision.action == "promote" and decision.version:
                        latest[decision.version] = decision  # in stream order: the last one stays
                if not messages or messages[-1].metadata.num_pending == 0:
                    break
        except nats.errors.TimeoutError:
            pass  # nothing more arrived: all read
        finally:
            await sub.unsubscribe()
        return latest

    async def _keys(self, bucket: str) -> list[str]:
        try:
            kv = await self._js.key_value(bucket)
            return await kv.keys()
        except NoKeysError:
            return []
        except nats.errors.Error as exc:
            raise Unavailable(f"KV {bucket} is unreadable ({exc!r}): is the stack running?") from None

    async def _get(self, bucket: str, key: str) -> bytes | None:
        try:
            kv = await self._js.key_value(bucket)
            entry = await kv.get(key)
        except KeyNotFoundError:
            return None
        except nats.errors.Error as exc:
            raise Unavailable(f"KV {bucket} is unreadable ({exc!r}): is the stack running?") from None
        return entry.value or None


def _object(data: bytes, where: str) -> dict[str, Any] | None:
    try:
        value = msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        logger.warning("%s is not JSON: %s", where, exc)
        return None
    return value if isinstance(value, dict) else None
