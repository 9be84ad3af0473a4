"""Standard Webhooks signatures (standardwebhooks.com): ``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body``
keyed with the secret's bytes (``whsec_`` + base64)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as random

PREFIX = "whsec_"


def new_secret() -> str:
    """24 random bytes, as Standard Webhooks' reference libraries make them."""
    return PREFIX + base64.b64encode(random.token_bytes(24)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def headers(secrets: list[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers; with several secrets (a rotation's grace period) one signature each, space-separated,
    so that a receiver holding either secret verifies the message."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, message_id, timestamp, body) for s in secrets),
    }
