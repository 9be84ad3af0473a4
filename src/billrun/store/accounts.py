"""Queries on accounts and their API credentials."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from billrun.credentials import hash_secret, new_api_key, new_api_secret
from billrun.store.models import Account, ApiCredential

#: The per-account settings an operator may change (``billrun accounts update``), with their bounds.
SETTINGS: dict[str, tuple[type, Any, Any]] = {
    "name": (str, 1, 255),
    "invoice_number_prefix": (str, 0, 32),
    "payment_term_days": (int, 0, 3650),
    "auto_issue_grace_seconds": (int, 0, 366 * 86400),
    "billing_run_offset_seconds": (int, -86400, 86400),
    "rate_limit_per_minute": (int, 0, 1_000_000),
    # the seller on invoice documents; an empty string clears the optional ones
    "legal_name": (str, 0, 255),
    "address": (str, 0, 1000),
    "tax_id": (str, 0, 64),
    "logo_url": (str, 0, 2048),
    "locale": (str, 2, 16),
    "paper_size": (str, 2, 6),
}
#: settings an empty value clears
CLEARABLE = frozenset({"legal_name", "address", "tax_id", "logo_url"})


@dataclass(frozen=True)
class NewCredential:
    id: uuid.UUID
    api_key: str
    api_secret: str


@dataclass(frozen=True)
class StoredCredential:
    """What authentication needs of a credential, read without verifying anything."""

    secret_hash: str
    account: Account


class UnknownAccount(LookupError):
    pass


def create_account(
    session: Session, name: str, *, is_operator: bool = False, rate_limit_per_minute: int = 100
) -> NewCredential:
    account = Account(name=name, is_operator=is_operator, rate_limit_per_minute=rate_limit_per_minute)
    session.add(account)
    session.flush()
    key, secret = new_api_key(), new_api_secret()
    session.add(ApiCredential(account_id=account.id, api_key=key, secret_hash=hash_secret(secret)))
    session.flush()
    return NewCredential(account.id, key, secret)


def credential(session: Session, api_key: str) -> StoredCredential | None:
    """The live credential for ``api_key`` of an enabled account (None: unknown, revoked or disabled). The
    caller verifies the secret against ``secret_hash``."""
    row = session.execute(
        select(ApiCredential.secret_hash, Account)
        .join(Account, Account.id == ApiCredential.account_id)
        .where(ApiCredential.api_key == api_key, ApiCredential.revoked_at.is_(None), Account.disabled_at.is_(None))
    ).first()
    return None if row is None else StoredCredential(row[0], row[1])


def list_accounts(session: Session) -> list[Account]:
    return list(session.execute(select(Account).order_by(Account.created_at, Account.id)).scalars())


def get_account(session: Session, account_id: uuid.UUID) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise UnknownAccount(f"no account {account_id}")
    return account


def api_keys(session: Session, account_id: uuid.UUID) -> list[str]:
    """The account's live API keys (never secrets: only their hashes are stored)."""
    return list(
        session.execute(
            select(ApiCredential.api_key)
            .where(ApiCredential.account_id == account_id, ApiCredential.revoked_at.is_(None))
            .order_by(ApiCredential.created_at)
        ).scalars()
    )


def update_settings(session: Session, account_id: uuid.UUID, changes: dict[str, Any]) -> Account:
    """Apply already validated ``changes`` (keys of :data:`SETTINGS`)."""
    account = get_account(session, account_id)
    for name, value in changes.items():
        setattr(account, name, value)
    session.flush()
    return account


def rotate_secret(session: Session, account_id: uuid.UUID, now: dt.datetime) -> NewCredential:
    """Revoke every live credential of the account and issue a new key and secret: the old secret stops
    working at once in every API process (authentication reads the credential row on each request)."""
    get_account(session, account_id)
    session.execute(
        update(ApiCredential)
        .where(ApiCredential.account_id == account_id, ApiCredential.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    key, secret = new_api_key(), new_api_secret()
    session.add(ApiCredential(account_id=account_id, api_key=key, secret_hash=hash_secret(secret)))
    session.flush()
    return NewCredential(account_id, key, secret)


def set_disabled(session: Session, account_id: uuid.UUID, disabled: bool) -> Account:
    account = get_account(session, account_id)
    if disabled and account.disabled_at is None:
        account.disabled_at = session.execute(select(func.now())).scalar_one()
    elif not disabled:
        account.disabled_at = None
    session.flush()
    return account
