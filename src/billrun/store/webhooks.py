"""Webhook statements: the outbox (events and their deliveries, COPYed in the change's transaction), claiming
due deliveries under a lease, and recording attempts."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from billrun.domain.statuses import DeliveryStatus
from billrun.store.bulk import copy_rows
from billrun.store.common import one_of
from billrun.store.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent


def subscribers(
    session: Session, account_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[uuid.UUID, set[str]]]]:
    """The enabled endpoints of each account, with the event types each wants (empty: all)."""
    found: dict[uuid.UUID, list[tuple[uuid.UUID, set[str]]]] = {}
    rows = session.execute(
        select(WebhookEndpoint.account_id, WebhookEndpoint.id, WebhookEndpoint.event_types).where(
            one_of(WebhookEndpoint.account_id, set(account_ids)), WebhookEndpoint.disabled_at.is_(None)
        )
    )
    for account_id, endpoint_id, types in rows:
        found.setdefault(account_id, []).append((endpoint_id, set(types)))
    return found


def write_outbox(session: Session, events: Sequence[tuple[Any, ...]], deliveries: Sequence[tuple[Any, ...]]) -> None:
    """One COPY per table: events as (id, account_id, type, body, created_at), deliveries as (id, account_id,
    event_id, endpoint_id, event_type, created_at), due at once."""
    copy_rows(session, "webhook_events", ("id", "account_id", "type", "body", "created_at"), events)
    copy_rows(
        session,
        "webhook_deliveries",
        (
            "id",
            "account_id",
            "event_id",
            "endpoint_id",
            "event_type",
            "status",
            "attempt_count",
            "next_attempt_at",
            "created_at",
            "updated_at",
        ),
        [(d, a, e, p, t, DeliveryStatus.PENDING, 0, at, at, at) for d, a, e, p, t, at in deliveries],
    )


@dataclass(frozen=True)
class Claimed:
    delivery_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    body: str
    attempt_count: int
    endpoint_id: uuid.UUID
    url: str
    sealed_secret: str
    sealed_previous_secret: str | None
    previous_secret_expires_at: dt.datetime | None


def _due(now: dt.datetime) -> Any:
    return and_(
        WebhookDelivery.status == DeliveryStatus.PENDING,
        WebhookDelivery.next_attempt_at <= now,
        or_(WebhookDelivery.leased_until.is_(None), WebhookDelivery.leased_until < now),
    )


def claim_due(session: Session, now: dt.datetime, limit: int, lease: dt.timedelta) -> list[Claimed]:
    """Up to ``limit`` due deliveries of enabled endpoints, leased until ``now + lease``; concurrent workers
    skip each other's rows. A worker that dies mid-delivery leaves its rows to be claimed after the lease."""
    picked = (
        select(WebhookDelivery.id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(_due(now), WebhookEndpoint.disabled_at.is_(None))
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(limit)
        .with_for_update(of=WebhookDelivery, skip_locked=True)
    ).scalar_subquery()
    ids = session.scalars(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(picked))
        .values(leased_until=now + lease)
        .returning(WebhookDelivery.id)
    ).all()
    if not ids:
        return []
    rows = session.execute(
        select(
            WebhookDelivery.id,
            WebhookDelivery.event_id,
            WebhookDelivery.event_type,
            WebhookEvent.body,
            WebhookDelivery.attempt_count,
            WebhookEndpoint.id,
            WebhookEndpoint.url,
            WebhookEndpoint.sealed_secret,
            WebhookEndpoint.sealed_previous_secret,
            WebhookEndpoint.previous_secret_expires_at,
        )
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(one_of(WebhookDelivery.id, ids))
        .order_by(WebhookDelivery.next_attempt_at)
    )
    return [Claimed(*row) for row in rows]


@dataclass(frozen=True)
class Result:
    delivery_id: uuid.UUID
    endpoint_id: uuid.UUID
    attempted_at: dt.datetime
    http_status: int | None
    duration_ms: int
    error: str | None
    response_body: str | None
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: dt.datetime | None


def record(session: Session, results: Sequence[Result]) -> None:
    """The attempts (one COPY), each delivery's new state (one statement), released from its lease."""
    if not results:
        return
    copy_rows(
        session,
        "webhook_attempts",
        ("id", "delivery_id", "attempted_at", "http_status", "duration_ms", "error", "response_body"),
        [
            (uuid.uuid4(), r.delivery_id, r.attempted_at, r.http_status, r.duration_ms, r.error, r.response_body)
            for r in results
        ],
    )
    session.execute(
        update(WebhookDelivery),
        [
            {
                "id": r.delivery_id,
                "status": r.status,
                "attempt_count": r.attempt_count,
                "next_attempt_at": r.next_attempt_at,
                "leased_until": None,
                "updated_at": r.attempted_at,
            }
            for r in results
        ],
    )


def endpoints_answered(session: Session, endpoint_ids: Sequence[uuid.UUID]) -> None:
    """A success ends an endpoint's failing streak."""
    if endpoint_ids:
        session.execute(
            update(WebhookEndpoint)
            .where(one_of(WebhookEndpoint.id, set(endpoint_ids)), WebhookEndpoint.failing_since.is_not(None))
            .values(failing_since=None)
        )


def endpoints_failed(
    session: Session, endpoint_ids: Sequence[uuid.UUID], now: dt.datetime, disable_after: dt.timedelta
) -> list[uuid.UUID]:
    """Start the failing streak of endpoints that had none, and disable those failing for ``disable_after``;
    returns the ones disabled now."""
    if not endpoint_ids:
        return []
    ids = one_of(WebhookEndpoint.id, set(endpoint_ids))
    session.execute(
        update(WebhookEndpoint).where(ids, WebhookEndpoint.failing_since.is_(None)).values(failing_since=now)
    )
    return list(
        session.scalars(
            update(WebhookEndpoint)
            .where(
                ids,
                WebhookEndpoint.disabled_at.is_(None),
                WebhookEndpoint.failing_since <= now - disable_after,
            )
            .values(
                disabled_at=now,
                disabled_reason=f"every delivery attempt failed for {disable_after.days} days",
                updated_at=now,
            )
            .returning(WebhookEndpoint.id)
        )
    )


def pending_count(session: Session) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status == DeliveryStatus.PENDING)
        )
        or 0
    )


def due_count(session: Session, now: dt.datetime) -> int:
    return session.scalar(select(func.count()).select_from(WebhookDelivery).where(_due(now))) or 0


def next_due(session: Session) -> dt.datetime | None:
    """When the earliest attempt still to make can be made: a leased delivery's once its lease runs out."""
    return session.scalar(
        select(
            func.min(
                func.greatest(
                    WebhookDelivery.next_attempt_at,
                    func.coalesce(WebhookDelivery.leased_until, WebhookDelivery.next_attempt_at),
                )
            )
        ).where(WebhookDelivery.status == DeliveryStatus.PENDING)
    )


def pending_by_endpoint(session: Session) -> list[tuple[uuid.UUID, uuid.UUID, int, dt.datetime | None]]:
    """(account, endpoint, pending deliveries, oldest event time) for the CLI and the metrics."""
    return [
        (a, e, n, oldest)
        for a, e, n, oldest in session.execute(
            select(
                WebhookDelivery.account_id,
                WebhookDelivery.endpoint_id,
                func.count(),
                func.min(WebhookDelivery.created_at),
            )
            .where(WebhookDelivery.status == DeliveryStatus.PENDING)
            .group_by(WebhookDelivery.account_id, WebhookDelivery.endpoint_id)
        )
    ]


def retry_now(session: Session, delivery_ids: Sequence[uuid.UUID], now: dt.datetime) -> int:
    """Due again at once (whatever their status), released from any lease."""
    result = session.execute(
        update(WebhookDelivery)
        .where(one_of(WebhookDelivery.id, delivery_ids))
        .values(status=DeliveryStatus.PENDING, next_attempt_at=now, leased_until=None, updated_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def failed_ids(
    session: Session, account_id: uuid.UUID | None = None, endpoint_id: uuid.UUID | None = None
) -> list[uuid.UUID]:
    stmt = select(WebhookDelivery.id).where(WebhookDelivery.status == DeliveryStatus.FAILED)
    if account_id is not None:
        stmt = stmt.where(WebhookDelivery.account_id == account_id)
    if endpoint_id is not None:
        stmt = stmt.where(WebhookDelivery.endpoint_id == endpoint_id)
    return list(session.scalars(stmt))


def attempts_of(session: Session, delivery_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[WebhookAttempt]]:
    found: dict[uuid.UUID, list[WebhookAttempt]] = {d: [] for d in delivery_ids}
    for attempt in session.scalars(
        select(WebhookAttempt)
        .where(one_of(WebhookAttempt.delivery_id, delivery_ids))
        .order_by(WebhookAttempt.attempted_at, WebhookAttempt.id)
    ):
        found[attempt.delivery_id].append(attempt)
    return found


def deliveries_query(
    account_id: uuid.UUID, endpoint_id: uuid.UUID | None, event_type: str | None, status: str | None
) -> Any:
    stmt = select(WebhookDelivery).where(WebhookDelivery.account_id == account_id)
    if endpoint_id is not None:
        stmt = stmt.where(WebhookDelivery.endpoint_id == endpoint_id)
    if event_type is not None:
        stmt = stmt.where(WebhookDelivery.event_type == event_type)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    return stmt


def endpoints_query(account_id: uuid.UUID) -> Any:
    return select(WebhookEndpoint).where(WebhookEndpoint.account_id == account_id)
