"""API credentials: random key/secret pairs; secrets are stored only as salted scrypt hashes (SPEC §3.1)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_N, _R, _P = 2**14, 8, 1


def new_api_key() -> str:
    return "key_" + secrets.token_hex(16)


def new_api_secret() -> str:
    return "sec_" + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_secret(secret: str, stored: str) -> bool:
    # scrypt keys HMAC-SHA256 with the password, and HMAC pads a short key with zero bytes, so "secret\x00"
    # derives the same hash as "secret": no issued secret holds a NUL, and none may be presented
    if "\x00" in secret:
        return False
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    salt = base64.b64decode(salt_b64)
    expected = base64.b64decode(digest_b64)
    actual = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=len(expected))
    return hmac.compare_digest(actual, expected)
