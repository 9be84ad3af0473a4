"""Signing secrets at rest. They cannot be hashed like API secrets: every delivery needs the secret itself to
compute its HMAC. They are encrypted with Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) under a
key derived from ``BILLRUN_SECRETS_KEY``, so that a database dump or backup alone cannot forge signatures."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets as random
from functools import lru_cache
from pathlib import Path

import structlog
from cryptography.fernet import Fernet, InvalidToken

from billrun.config import get_settings

log = structlog.get_logger(__name__)
KEY_FILE = "secrets.key"


class SealingError(RuntimeError):
    """A sealed secret that this process's key cannot open: the processes do not share BILLRUN_SECRETS_KEY."""


def _key_material() -> str:
    settings = get_settings()
    if settings.secrets_key:
        return settings.secrets_key
    path = Path(settings.data_dir) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(random.token_urlsafe(32))
            log.warning(
                "BILLRUN_SECRETS_KEY is unset: made a key file; set the variable on every process in production",
                path=str(path),
            )
    return path.read_text().strip()


@lru_cache(maxsize=4)
def _fernet(material: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(material.encode()).digest()))


def seal(secret: str) -> str:
    return _fernet(_key_material()).encrypt(secret.encode()).decode()


def unseal(sealed: str) -> str:
    try:
        return _fernet(_key_material()).decrypt(sealed.encode()).decode()
    except InvalidToken:
        raise SealingError(
            "cannot decrypt a webhook secret: is BILLRUN_SECRETS_KEY the same on every process?"
        ) from None
