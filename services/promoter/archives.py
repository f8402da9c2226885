"""Which archive a promotion points at: its sha256, checked against the one the trainer announced."""

from __future__ import annotations

import base64
import binascii

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from services.promoter.errors import PromotionError
from services.promoter.registry import EVENTS_STREAM
from shared import subjects
from shared.schemas import ModelTrained, event_decoder
from shared.streams import Buckets

DIGEST_PREFIX = "SHA-256="


async def trained_sha256(js: JetStreamContext, version: str) -> str | None:
    """The archive sha256 the trainer announced for `version` (the latest model.trained), or None."""
    found, seq = None, 1
    while True:
        try:
            msg = await js.get_msg(EVENTS_STREAM, seq, subject=subjects.MODEL_TRAINED, next=True)
        except NotFoundError:
            return found
        event = event_decoder.decode(msg.data) if msg.data else None
        if isinstance(event, ModelTrained) and event.version == version:
            found = event.sha256
        seq = (msg.seq or seq) + 1


async def archive_sha256(js: JetStreamContext, version: str) -> str:
    """The sha256 of `version`'s archive in the object store `models`, checked against the trainer's.

    The object store keeps a SHA-256 of every object; a replica recomputes it from the bytes it
    downloads and refuses a mismatch. An archive replaced after training (a different digest from the
    one announced in model.trained) is refused here, before any replica is told to load it.
    """
    store = await js.object_store(Buckets.MODELS)
    try:
        info = await store.get_info(version)
    except NotFoundError:
        raise PromotionError(f"{version} is not in the object store `{Buckets.MODELS}`") from None
    digest = _hex_digest(info.digest or "")
    if digest is None:
        raise PromotionError(f"{version}: the object store records no SHA-256 for its archive")
    announced = await trained_sha256(js, version)
    if announced is not None and announced != digest:
        raise PromotionError(
            f"{version}: the archive in the object store (sha256 {digest[:12]}…) is not the one the trainer "
            f"announced (sha256 {announced[:12]}…); refused"
        )
    return digest


def _hex_digest(digest: str) -> str | None:
    """'SHA-256=<base64url>' (the object store's form) -> hex, or None."""
    if not digest.upper().startswith(DIGEST_PREFIX):
        return None
    try:
        raw = base64.urlsafe_b64decode(digest[len(DIGEST_PREFIX) :])
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None
