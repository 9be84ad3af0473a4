"""Webhook endpoints and deliveries as their owner manages them: subscribe a URL, rotate its secret, retry a
delivery. The secret is returned once, by the call that made it; it is stored sealed (``webhooks.sealing``)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from billrun.billing.clock import real_now
from billrun.billing.dispatch import deliver_after_commit
from billrun.billing.errors import Invalid
from billrun.config import get_settings
from billrun.domain.statuses import EndpointStatus, EventType
from billrun.store import webhooks as repo
from billrun.store.models import WebhookDelivery, WebhookEndpoint
from billrun.webhooks import signing, transport
from billrun.webhooks.sealing import seal

#: How long the previous secret keeps signing after a rotation, while receivers switch.
ROTATION_GRACE = dt.timedelta(hours=24)
EVENT_TYPES = [str(t) for t in EventType]


def check_url(url: str) -> None:
    try:
        transport.check_url(url, get_settings().webhooks_allow_private)
    except transport.Refused as exc:
        raise Invalid(f"url {exc}", "invalidValue", "url") from None


def check_event_types(types: Sequence[str]) -> None:
    for i, event_type in enumerate(types):
        if event_type not in EVENT_TYPES:
            raise Invalid(f"eventTypes[{i}] must be one of {', '.join(EVENT_TYPES)}", "invalidEnum", f"eventTypes[{i}]")


def create(
    session: Session, account_id: uuid.UUID, url: str, event_types: list[str], description: str | None
) -> tuple[WebhookEndpoint, str]:
    check_url(url)
    check_event_types(event_types)
    secret = signing.new_secret()
    now = real_now()
    endpoint = WebhookEndpoint(
        account_id=account_id,
        url=url,
        event_types=sorted(set(event_types)),
        description=description,
        sealed_secret=seal(secret),
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    session.flush()
    return endpoint, secret


def update(
    session: Session,
    endpoint: WebhookEndpoint,
    url: str,
    event_types: list[str],
    description: str | None,
    status: EndpointStatus | None,
) -> None:
    """Re-enabling an endpoint (``status: ENABLED``) delivers what waited for it."""
    check_url(url)
    check_event_types(event_types)
    now = real_now()
    endpoint.url, endpoint.event_types, endpoint.description = url, sorted(set(event_types)), description
    if status == EndpointStatus.ENABLED and endpoint.disabled_at is not None:
        endpoint.disabled_at = endpoint.disabled_reason = endpoint.failing_since = None
        deliver_after_commit(session)
    elif status == EndpointStatus.DISABLED and endpoint.disabled_at is None:
        endpoint.disabled_at, endpoint.disabled_reason = now, "disabled by its owner"
    endpoint.updated_at = now


def delete(session: Session, endpoint: WebhookEndpoint) -> None:
    """Its deliveries, pending ones included, go with it."""
    session.delete(endpoint)


def rotate_secret(endpoint: WebhookEndpoint) -> str:
    """A new secret; the previous one also signs for :data:`ROTATION_GRACE` (each message carries both
    signatures), so that receivers can switch without dropping a message."""
    secret = signing.new_secret()
    now = real_now()
    endpoint.sealed_previous_secret = endpoint.sealed_secret
    endpoint.previous_secret_expires_at = now + ROTATION_GRACE
    endpoint.sealed_secret = seal(secret)
    endpoint.updated_at = now
    return secret


def retry(session: Session, delivery: WebhookDelivery) -> None:
    """Due again now, whatever its status (a DELIVERED one is sent again: the receiver deduplicates)."""
    repo.retry_now(session, [delivery.id], real_now())
    session.refresh(delivery)
    deliver_after_commit(session)


def retry_many(
    session: Session,
    delivery_ids: Sequence[uuid.UUID] = (),
    *,
    failed_of_account: uuid.UUID | None = None,
    failed_of_endpoint: uuid.UUID | None = None,
    all_failed: bool = False,
) -> int:
    """The operator's retry (``billrun webhooks retry``): the deliveries named, and every FAILED one (of an
    account, of an endpoint, or all), due again now; after a receiver's outage. Returns how many."""
    ids = list(delivery_ids)
    if all_failed or failed_of_account or failed_of_endpoint:
        ids += repo.failed_ids(session, failed_of_account, failed_of_endpoint)
    changed = repo.retry_now(session, ids, real_now()) if ids else 0
    if changed:
        deliver_after_commit(session)
    return changed
