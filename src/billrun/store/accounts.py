"""Queries on accounts and their API credentials."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from billrun.credentials import hash_secret, new_api_key, new_api_secret, verify_secret
from billrun.store.models import Account, ApiCredential


@dataclass(frozen=True)
class NewAccount:
    id: uuid.UUID
    api_key: str
    api_secret: str


def create_account(
    session: Session, name: str, *, is_operator: bool = False, rate_limit_per_minute: int = 100
) -> NewAccount:
    account = Account(name=name, is_operator=is_operator, rate_limit_per_minute=rate_limit_per_minute)
    session.add(account)
    session.flush()
    key, secret = new_api_key(), new_api_secret()
    session.add(ApiCredential(account_id=account.id, api_key=key, secret_hash=hash_secret(secret)))
    session.flush()
    return NewAccount(account.id, key, secret)


def authenticate(session: Session, api_key: str, api_secret: str) -> Account | None:
    row = session.execute(
        select(ApiCredential, Account)
        .join(Account, Account.id == ApiCredential.account_id)
        .where(ApiCredential.api_key == api_key, ApiCredential.revoked_at.is_(None))
    ).first()
    if row is None or not verify_secret(api_secret, row[0].secret_hash):
        return None
    return row[1]
