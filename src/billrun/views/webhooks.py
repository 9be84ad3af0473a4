"""Webhook endpoints and deliveries as ``GET /webhook-endpoints/{id}`` and ``GET /webhook-deliveries`` serve
them. An endpoint's secret is never part of it: only the call that makes one returns it."""

from __future__ import annotations

from typing import Any

from billrun.domain.statuses import EndpointStatus
from billrun.store.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from billrun.views.serialize import ts


def endpoint_json(e: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": str(e.id),
        "sequenceAccountId": str(e.account_id),
        "url": e.url,
        "description": e.description,
        "eventTypes": e.event_types,
        "status": EndpointStatus.DISABLED if e.disabled_at else EndpointStatus.ENABLED,
        "disabledAt": ts(e.disabled_at),
        "disabledReason": e.disabled_reason,
        "failingSince": ts(e.failing_since),
        "previousSecretExpiresAt": ts(e.previous_secret_expires_at),
        "createdAt": ts(e.created_at),
        "updatedAt": ts(e.updated_at),
    }


def attempt_json(a: WebhookAttempt) -> dict[str, Any]:
    return {
        "attemptedAt": ts(a.attempted_at),
        "httpStatus": a.http_status,
        "durationMs": a.duration_ms,
        "error": a.error,
        "responseBody": a.response_body,
    }


def delivery_json(d: WebhookDelivery, attempts: list[WebhookAttempt]) -> dict[str, Any]:
    return {
        "id": str(d.id),
        "endpointId": str(d.endpoint_id),
        "eventId": str(d.event_id),
        "eventType": d.event_type,
        "status": d.status,
        "attemptCount": d.attempt_count,
        "nextAttemptAt": ts(d.next_attempt_at),
        "attempts": [attempt_json(a) for a in attempts],
        "createdAt": ts(d.created_at),
        "updatedAt": ts(d.updated_at),
    }
