"""Webhook statements: the outbox (a transaction's events and their deliveries as one row, fanned out later
with one COPY per table), claiming due deliveries under a lease, and recording attempts."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, text, update
from sqlalchemy.orm import Session

from billrun.domain.statuses import DeliveryStatus
from billrun.ids import uuid7
from billrun.store.bulk import copy_rows
from billrun.store.common import one_of
from billrun.store.models import Account, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent, WebhookOutbox


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


def write_outbox(session: Session, at: dt.datetime, events: Sequence[tuple[Any, ...]]) -> None:
    """One row for a transaction's events, as (id, account_id, type, line, created_at, endpoint ids, kind): the
    line is the event's body, or (``kind`` not None) what the fan-out makes its body from. A delivery per
    endpoint, due at once, is made when the row is fanned out. The row's content is a JSON line of everything
    but the lines, then the lines (JSON text holds no raw newline): bodies inside a JSON document would be
    escaped and unescaped again, a third of the row's cost."""
    head = [
        [str(i), str(a), t, created.isoformat(), [str(p) for p in targets], kind]
        for i, a, t, _, created, targets, kind in events
    ]
    lines = [json.dumps(head, separators=(",", ":")), *(line for _, _, _, line, *_ in events)]
    if any("\n" in line for line in lines[1:]):  # never from json.dumps; a row split wrongly would never fan out
        raise ValueError("a webhook body holds a raw newline")
    deliveries = sum(len(targets) for *_, targets, _ in events)
    session.execute(
        insert(WebhookOutbox).values(id=uuid7(), content="\n".join(lines), deliveries=deliveries, created_at=at)
    )


def fan_out(session: Session, limit: int, finish: Callable[[str, str, str, str, str], str]) -> int:
    """Fan up to ``limit`` outbox rows out into events and their deliveries (one COPY per table), and delete
    them; rows another pass is fanning out are skipped. ``finish(kind, line, id, type, created_at)`` makes the
    body of an event stored as a ``kind``. Returns the deliveries made. An account or an endpoint deleted
    since takes its events or deliveries with it, as the foreign keys would have."""
    rows = session.execute(
        select(WebhookOutbox.id, WebhookOutbox.content)
        .order_by(WebhookOutbox.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return 0
    events: list[tuple[str, str, str, str, str, list[str]]] = []
    for _, content in rows:
        first, *lines = content.split("\n")
        for (i, a, t, at, targets, kind), line in zip(json.loads(first), lines, strict=True):
            events.append((i, a, t, line if kind is None else finish(kind, line, i, t, at), at, targets))
    # held until the commit (key share): not deleted while their rows are written
    accounts = _still_there(session, Account, {e[1] for e in events})
    endpoints = _still_there(session, WebhookEndpoint, {p for *_, targets in events for p in targets})
    events = [e for e in events if e[1] in accounts]
    deliveries = [
        (uuid7(), a, i, p, t, DeliveryStatus.PENDING, 0, at, at, at)
        for i, a, t, _, at, targets in events
        for p in targets
        if p in endpoints
    ]
    copy_rows(session, "webhook_events", ("id", "account_id", "type", "body", "created_at"), [e[:5] for e in events])
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
        deliveries,
    )
    session.execute(delete(WebhookOutbox).where(one_of(WebhookOutbox.id, [row.id for row in rows])))
    return len(deliveries)


def _still_there(session: Session, model: Any, ids: set[str]) -> set[str]:
    """Which of these ids (as the outbox's JSON holds them) still exist, locked against deletion."""
    found = session.scalars(select(model.id).where(one_of(model.id, ids)).with_for_update(key_share=True))
    return {str(i) for i in found}


def awaiting_fan_out(session: Session) -> tuple[int, dt.datetime | None]:
    """Deliveries still in the outbox, and when the oldest was written."""
    count, oldest = session.execute(
        select(func.coalesce(func.sum(WebhookOutbox.deliveries), 0), func.min(WebhookOutbox.created_at))
    ).one()
    return int(count), oldest


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
    """Deliveries waiting for an attempt, those still in the outbox included."""
    pending = session.scalar(
        select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status == DeliveryStatus.PENDING)
    )
    return (pending or 0) + awaiting_fan_out(session)[0]


def due_count(session: Session, now: dt.datetime) -> int:
    """Deliveries that a pass would attempt now, those still in the outbox included."""
    due = session.scalar(select(func.count()).select_from(WebhookDelivery).where(_due(now)))
    return (due or 0) + awaiting_fan_out(session)[0]


def next_due(session: Session) -> dt.datetime | None:
    """When the earliest attempt still to make can be made: a leased delivery's once its lease runs out; one
    still in the outbox, at once."""
    waiting, written = awaiting_fan_out(session)
    if waiting:
        return written
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


def pending_by_endpoint(session: Session) -> list[tuple[uuid.UUID, uuid.UUID, int, dt.datetime]]:
    """(account, endpoint, pending deliveries, oldest event time) for the CLI, those still in the outbox
    included (read from each row's first line: the outbox holds a few rows between delivery passes)."""
    fanned_out = session.execute(
        select(
            WebhookDelivery.account_id,
            WebhookDelivery.endpoint_id,
            func.count(),
            func.min(WebhookDelivery.created_at),
        )
        .where(WebhookDelivery.status == DeliveryStatus.PENDING)
        .group_by(WebhookDelivery.account_id, WebhookDelivery.endpoint_id)
    )
    outboxed = session.execute(
        text(
            "SELECT (e->>1)::uuid, p::uuid, count(*), min((e->>3)::timestamptz) FROM webhook_outbox o, "
            "jsonb_array_elements(split_part(o.content, E'\\n', 1)::jsonb) e, jsonb_array_elements_text(e->4) p "
            "GROUP BY 1, 2"
        )
    )
    counts: dict[tuple[uuid.UUID, uuid.UUID], int] = {}
    oldest: dict[tuple[uuid.UUID, uuid.UUID], dt.datetime] = {}
    for account, endpoint, count, written in [*fanned_out, *outboxed]:
        key = (account, endpoint)
        counts[key] = counts.get(key, 0) + count
        oldest[key] = min(written, oldest.get(key, written))
    return [(a, e, n, oldest[(a, e)]) for (a, e), n in counts.items()]


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
