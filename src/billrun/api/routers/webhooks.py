"""Webhook endpoints and deliveries (README, Webhooks): subscribe, rotate the secret, look at each delivery's
attempts, retry one."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import false
from sqlalchemy.orm import Session

from billrun.api.errors import not_found
from billrun.api.http import Caller, JSONResponse, Query, caller, page_params, parse_json, raw_body, run_mutation
from billrun.api.listing import list_page
from billrun.billing import webhook_endpoints as endpoints
from billrun.domain.statuses import DeliveryStatus, EndpointStatus
from billrun.store import webhooks as repo
from billrun.store.common import owned
from billrun.store.db import unit_of_work
from billrun.store.models import WebhookDelivery, WebhookEndpoint
from billrun.validation import Fields
from billrun.views.webhooks import delivery_json, endpoint_json

router = APIRouter()


def _fields(raw: bytes) -> tuple[str, list[str], str | None, EndpointStatus | None]:
    v = Fields(parse_json(raw))
    url = v.string("url", max_len=2000)
    event_types = v.string_list("eventTypes", max_len=64)
    description = v.string("description", required=False, max_len=4000)
    status = v.string("status", required=False, max_len=16)
    if status is not None and status not in list(EndpointStatus):
        v.error("status", "invalidEnum", f"status must be one of {', '.join(EndpointStatus)}")
    v.raise_if_errors()
    assert url is not None
    return url, event_types, description, EndpointStatus(status) if status else None


def _endpoint(s: Session, who: Caller, endpoint_id: str, lock: bool = False) -> WebhookEndpoint:
    endpoint = owned(s, WebhookEndpoint, who.account_id, endpoint_id, lock=lock)
    if endpoint is None:
        raise not_found("webhook endpoint")
    return endpoint


@router.post("/webhook-endpoints", status_code=201)
def create_endpoint(request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)) -> Response:
    url, event_types, description, _ = _fields(raw)

    def action(s: Session) -> tuple[int, Any]:
        endpoint, secret = endpoints.create(s, who.account_id, url, event_types, description)
        return 201, {**endpoint_json(endpoint), "secret": secret}

    return run_mutation(request, who, raw, action)


@router.get("/webhook-endpoints")
def list_endpoints(request: Request, who: Caller = Depends(caller)) -> Response:
    page = page_params(Query(request))
    stmt = repo.endpoints_query(who.account_id)
    return list_page(page, stmt, WebhookEndpoint.created_at, WebhookEndpoint.id, endpoint_json)


@router.get("/webhook-endpoints/{endpoint_id}")
def get_endpoint(endpoint_id: str, who: Caller = Depends(caller)) -> Response:
    with unit_of_work() as s:
        return JSONResponse(endpoint_json(_endpoint(s, who, endpoint_id)))


@router.put("/webhook-endpoints/{endpoint_id}")
def update_endpoint(
    endpoint_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    url, event_types, description, status = _fields(raw)

    def action(s: Session) -> tuple[int, Any]:
        endpoint = _endpoint(s, who, endpoint_id, lock=True)
        endpoints.update(s, endpoint, url, event_types, description, status)
        return 200, endpoint_json(endpoint)

    return run_mutation(request, who, raw, action)


@router.delete("/webhook-endpoints/{endpoint_id}")
def delete_endpoint(
    endpoint_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    def action(s: Session) -> tuple[int, Any]:
        endpoint = _endpoint(s, who, endpoint_id, lock=True)
        body = endpoint_json(endpoint)
        endpoints.delete(s, endpoint)
        return 200, body

    return run_mutation(request, who, raw, action)


@router.post("/webhook-endpoints/{endpoint_id}/rotate-secret")
def rotate_secret(
    endpoint_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    def action(s: Session) -> tuple[int, Any]:
        endpoint = _endpoint(s, who, endpoint_id, lock=True)
        secret = endpoints.rotate_secret(endpoint)
        return 200, {**endpoint_json(endpoint), "secret": secret}

    return run_mutation(request, who, raw, action)


@router.get("/webhook-deliveries")
def list_deliveries(request: Request, who: Caller = Depends(caller)) -> Response:
    query = Query(request)
    page = page_params(query)
    endpoint_id = query.uuid("endpointId")
    event_type = query.enum("eventType", endpoints.EVENT_TYPES)
    status = query.enum("status", list(DeliveryStatus))
    query.raise_if_errors()
    stmt = repo.deliveries_query(
        who.account_id, endpoint_id if isinstance(endpoint_id, uuid.UUID) else None, event_type, status
    )
    if endpoint_id is False:  # given, but not an id: matches nothing
        stmt = stmt.where(false())

    def serialize(s: Session, rows: list[WebhookDelivery]) -> list[dict[str, Any]]:
        attempts = repo.attempts_of(s, [d.id for d in rows])
        return [delivery_json(d, attempts[d.id]) for d in rows]

    return list_page(page, stmt, WebhookDelivery.created_at, WebhookDelivery.id, serialize_rows=serialize)


@router.get("/webhook-deliveries/{delivery_id}")
def get_delivery(delivery_id: str, who: Caller = Depends(caller)) -> Response:
    with unit_of_work() as s:
        delivery = owned(s, WebhookDelivery, who.account_id, delivery_id)
        if delivery is None:
            raise not_found("webhook delivery")
        return JSONResponse(delivery_json(delivery, repo.attempts_of(s, [delivery.id])[delivery.id]))


@router.post("/webhook-deliveries/{delivery_id}/retry", status_code=202)
def retry_delivery(
    delivery_id: str, request: Request, raw: bytes = Depends(raw_body), who: Caller = Depends(caller)
) -> Response:
    """Accepted: the attempt is made by a worker, now; its outcome shows in the delivery's attempts."""

    def action(s: Session) -> tuple[int, Any]:
        delivery = owned(s, WebhookDelivery, who.account_id, delivery_id, lock=True)
        if delivery is None:
            raise not_found("webhook delivery")
        endpoints.retry(s, delivery)
        return 202, delivery_json(delivery, repo.attempts_of(s, [delivery.id])[delivery.id])

    return run_mutation(request, who, raw, action)
