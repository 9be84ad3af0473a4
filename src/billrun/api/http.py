"""HTTP plumbing shared by every router: JSON in and out, authentication, transactions, idempotency,
pagination (SPEC §3)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import threading
import uuid
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from psycopg.errors import DeadlockDetected
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from billrun import jsonutil
from billrun.api import ratelimit
from billrun.api.errors import ApiError, FieldError, field_error, unauthorized, validation_error
from billrun.billing.clock import real_now
from billrun.config import get_settings
from billrun.credentials import verify_secret
from billrun.store import idempotency
from billrun.store.accounts import credential
from billrun.store.db import unit_of_work
from billrun.store.models import Account, IdempotencyKey
from billrun.validation import parse_date, parse_timestamp
from billrun.views.serialize import present

API_VERSION = "2024-07-30"
#: Versions a client may ask for (SPEC §3.2): the 2024-07-30 shapes are served, except where an older
#: version's shape of a resource differs (the customer's contact fields before 2024-07-30).
SUPPORTED_VERSIONS = ("2024-07-30", "2024-05-09", "2024-01-01")
#: The version the current request is served in, set by the versioning middleware for the serialisers.
served_version: ContextVar[str] = ContextVar("served_version", default=API_VERSION)


class JSONResponse(Response):
    """JSON with exact decimals (SPEC §3.3) and absent fields omitted (SPEC §2.0)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return jsonutil.dumps(present(content)).encode()


class RecordResponse(Response):
    """One of billrun's own records (a calculation snapshot) served exactly as stored, nulls included: they
    are its data, and no Sequence client reads it."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return jsonutil.dumps(content).encode()


# --- bodies ---------------------------------------------------------------------------------------------------


async def raw_body(request: Request) -> bytes:
    """The request body, read in the event loop so that endpoints can be plain (threadpool) functions."""
    return await request.body()


def parse_json(raw: bytes) -> Any:
    """The parsed JSON body; invalid JSON is a 400 with the parser's line and column, never repaired."""
    if not raw.strip():
        raise field_error("", "invalidJson", "request body must be JSON (empty body)")
    try:
        return jsonutil.loads_untrusted(raw)
    except jsonutil.UnsafeJson as exc:
        raise field_error(exc.key, "invalidFormat", str(exc)) from exc
    except json.JSONDecodeError as exc:
        raise field_error("", "invalidJson", f"{exc.msg}: line {exc.lineno} column {exc.colno}") from exc
    except UnicodeDecodeError as exc:
        raise field_error("", "invalidJson", "request body is not UTF-8") from exc


# --- authentication -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    account_id: uuid.UUID
    api_key: str
    rate_limit_per_minute: int
    is_operator: bool
    invoice_number_prefix: str
    payment_term_days: int
    auto_issue_grace_seconds: int
    billing_run_offset_seconds: int


_verified: set[tuple[str, str]] = set()
_verified_lock = threading.Lock()


def _secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def caller(request: Request) -> Caller:
    """Basic auth against the account credentials (SPEC §3.1). The credential row is read on every request, so
    a revoked secret or a disabled account is refused at once by every process; only the deliberately slow
    scrypt check is cached, per stored hash and SHA-256 of the presented secret."""
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise unauthorized()
    try:
        key, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise unauthorized() from exc
    if not key or len(key) > 64 or "\x00" in key + secret:  # no such key exists; PostgreSQL refuses NUL
        raise unauthorized()
    with unit_of_work() as session:
        stored = credential(session, key)
        found = _caller_of(stored.account, key) if stored is not None else None
    verified_key = (stored.secret_hash if stored else "", _secret_digest(secret))
    with _verified_lock:
        known = stored is not None and verified_key in _verified
    if not known:
        address = request.client.host if request.client else "unknown"
        ratelimit.check_failed_auth(key, address)  # before the slow hash: guessing costs the guesser, not us
        if stored is None or not verify_secret(secret, stored.secret_hash):
            ratelimit.count_failed_auth(key, address)
            raise unauthorized()
        with _verified_lock:
            _verified.add(verified_key)
    assert found is not None
    ratelimit.check(found.api_key, found.rate_limit_per_minute)
    return found


def _caller_of(account: Account, api_key: str) -> Caller:
    return Caller(
        account.id,
        api_key,
        account.rate_limit_per_minute,
        account.is_operator,
        account.invoice_number_prefix,
        account.payment_term_days,
        account.auto_issue_grace_seconds,
        account.billing_run_offset_seconds,
    )


# --- transactions and idempotency -----------------------------------------------------------------------------


def run_mutation(
    request: Request,
    who: Caller,
    raw_body: bytes,
    action: Callable[[Session], tuple[int, Any]],
) -> Response:
    """Run ``action`` in one transaction and return its (status, body). With an ``Idempotency-Key`` the 2xx
    response is stored in the same transaction and replayed for retries (SPEC §3.6)."""
    key = request.headers.get("idempotency-key")
    if key is not None and not 1 <= len(key) <= 255:
        raise field_error("Idempotency-Key", "outOfRange", "Idempotency-Key must be 1-255 characters")
    fingerprint = hashlib.sha256(
        request.method.encode() + b" " + request.url.path.encode() + b"\n" + raw_body
    ).hexdigest()
    for attempt in range(3):  # a deadlock aborts the whole transaction, so the action can simply run again
        try:
            with unit_of_work() as session:
                if key is not None:
                    replay = _idempotent_replay(session, who, key, fingerprint)
                    if replay is not None:
                        return replay
                status, body = action(session)
                if key is not None and 200 <= status < 300:
                    session.add(
                        IdempotencyKey(
                            account_id=who.account_id,
                            key=key,
                            fingerprint=fingerprint,
                            status_code=status,
                            response_body=jsonutil.dumps(present(body)),  # as JSONResponse renders it
                        )
                    )
            break
        except OperationalError as exc:
            if attempt == 2 or not isinstance(exc.orig, DeadlockDetected):
                raise
    return JSONResponse(body, status_code=status)


def _idempotent_replay(session: Session, who: Caller, key: str, fingerprint: str) -> Response | None:
    if not idempotency.try_lock(session, who.account_id, key):
        raise ApiError(409, "conflict", "a request with this Idempotency-Key is still in flight")
    ttl = dt.timedelta(hours=get_settings().idempotency_ttl_hours)
    stored = idempotency.live(session, who.account_id, key, real_now() - ttl)
    if stored is None:
        return None
    if stored.fingerprint != fingerprint:
        raise ApiError(422, "idempotencyKeyReused", "this Idempotency-Key was used with a different request")
    response = Response(stored.response_body, status_code=stored.status_code, media_type="application/json")
    response.headers["Idempotent-Replayed"] = "true"
    return response


# --- query parameters and pagination --------------------------------------------------------------------------


class Query:
    """Query-string parameters validated like bodies (every bad parameter reported)."""

    def __init__(self, request: Request) -> None:
        self.params = request.query_params
        self.path = request.url.path
        self.errors: list[FieldError] = []

    def get(self, name: str) -> str | None:
        value = self.params.get(name)
        return value if value not in (None, "") else None

    def enum(self, name: str, allowed: Sequence[str], default: str | None = None) -> str | None:
        value = self.get(name)
        if value is None:
            return default
        if value not in allowed:
            self.errors.append(FieldError("invalidEnum", f"{name} must be one of {', '.join(allowed)}", name))
            return default
        return value

    def enum_list(self, name: str, allowed: Sequence[str]) -> list[str]:
        value = self.get(name)
        if value is None:
            return []
        items = [v.strip() for v in value.split(",") if v.strip()]
        for item in items:
            if item not in allowed:
                self.errors.append(FieldError("invalidEnum", f"{name} must be among {', '.join(allowed)}", name))
        return items

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.get(name)
        if value is None:
            return default
        if value.lower() not in ("true", "false"):
            self.errors.append(FieldError("invalidType", f"{name} must be true or false", name))
            return default
        return value.lower() == "true"

    def date(self, name: str) -> dt.date | None:
        value = self.get(name)
        if value is None:
            return None
        parsed = parse_date(value)
        if parsed is None:
            self.errors.append(FieldError("invalidFormat", f"{name} must be a date YYYY-MM-DD", name))
        return parsed

    def timestamp(self, name: str) -> dt.datetime | None:
        value = self.get(name)
        if value is None:
            return None
        parsed = parse_timestamp(value)
        if parsed is None:
            self.errors.append(FieldError("invalidTimestamp", f"{name} must be RFC 3339 with an offset", name))
        return parsed

    def uuid(self, name: str) -> uuid.UUID | bool | None:
        """The parsed id; ``False`` when given but not an id (it then matches nothing)."""
        value = self.get(name)
        if value is None:
            return None
        try:
            return uuid.UUID(value)
        except ValueError:
            return False

    def raise_if_errors(self) -> None:
        if self.errors:
            raise validation_error(self.errors)


@dataclass(frozen=True)
class Page:
    limit: int
    after: tuple[Any, str] | None
    before: tuple[Any, str] | None
    descending: bool
    sort_by: str
    scope: str  # the list and sort a cursor belongs to


def _cursor_tag(scope: str) -> str:
    return hashlib.sha256(scope.encode()).hexdigest()[:12]


def page_params(query: Query, sort_fields: Sequence[str] = ()) -> Page:
    """``limit`` 1-100 (default 20), opaque ``after``/``before`` cursors, ``sortOrder``, ``sortBy`` (SPEC §3.4)."""
    limit = 20
    raw_limit = query.get("limit")
    if raw_limit is not None:
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
            query.errors.append(FieldError("outOfRange", "limit must be an integer from 1 to 100", "limit"))
        else:
            limit = int(raw_limit)
    order = query.enum("sortOrder", ["ASC", "DESC"], "DESC")
    sort_by = query.enum("sortBy", list(sort_fields), "") if sort_fields else ""
    if not sort_fields and query.get("sortBy"):
        query.errors.append(FieldError("invalidEnum", "sortBy is not supported here", "sortBy"))
    after, before = query.get("after"), query.get("before")
    if after and before:
        query.errors.append(FieldError("conflictingFields", "give either after or before, not both", "after"))
    scope = f"{query.path}|{sort_by or ''}"
    cursors: list[tuple[Any, str] | None] = []
    for name, value in (("after", after), ("before", before)):
        cursors.append(None if value is None else _decode_cursor(query, name, value, scope))
    query.raise_if_errors()
    return Page(limit, cursors[0], cursors[1], order == "DESC", sort_by or "", scope)


def _decode_cursor(query: Query, name: str, value: str, scope: str) -> tuple[Any, str] | None:
    """A cursor this list and sort handed out: [tag of the list and sort, sort value, row id]. Anything else,
    a cursor of another list or sort included, is 400 ``invalidFormat`` (its sort value is checked against
    the column's type when the page is read)."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode())
        valid = (
            isinstance(decoded, list)
            and len(decoded) == 3
            and decoded[0] == _cursor_tag(scope)
            and isinstance(decoded[1], str | int | None)
            and isinstance(decoded[2], str)
        )
        if valid:
            uuid.UUID(decoded[2])
            return decoded[1], decoded[2]
    except (ValueError, UnicodeDecodeError, binascii.Error):
        pass
    query.errors.append(FieldError("invalidFormat", f"{name} is not a cursor of this list and sort", name))
    return None


def encode_cursor(scope: str, sort_value: Any, row_id: str) -> str:
    raw = json.dumps([_cursor_tag(scope), sort_value, row_id], default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def wants_html(request: Request) -> bool:
    """Whether the client prefers HTML to JSON (a browser): ``text/html`` accepted with a higher quality than
    ``application/json``. API clients, which send ``application/json``, ``*/*`` or nothing, get JSON."""
    quality: dict[str, float] = {}
    for part in request.headers.get("accept", "").split(","):
        media, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        quality[media.strip().lower()] = max(q, quality.get(media.strip().lower(), 0.0))
    html = quality.get("text/html", 0.0)
    return html > 0 and html > max(quality.get("application/json", 0.0), quality.get("application/*", 0.0))
