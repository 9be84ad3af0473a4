"""Stored responses of requests sent with an ``Idempotency-Key`` (SPEC §3.6)."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

from sqlalchemy import delete, text
from sqlalchemy.orm import Session

from billrun.store.models import IdempotencyKey


def try_lock(session: Session, account_id: uuid.UUID, key: str) -> bool:
    """Take the key for this transaction, without waiting: False while another request holds it."""
    lock_key = int.from_bytes(hashlib.sha256(f"{account_id}:{key}".encode()).digest()[:8], "big", signed=True)
    return bool(session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": lock_key}).scalar())


def live(session: Session, account_id: uuid.UUID, key: str, expired_before: dt.datetime) -> IdempotencyKey | None:
    """The stored response under this key, unless it was stored before ``expired_before`` (then it is
    forgotten)."""
    stored = session.get(IdempotencyKey, (account_id, key))
    if stored is None or stored.created_at >= expired_before:
        return stored
    session.execute(delete(IdempotencyKey).where(IdempotencyKey.account_id == account_id, IdempotencyKey.key == key))
    session.flush()
    return None
