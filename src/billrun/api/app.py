"""The FastAPI application: every router under ``/api``, one error envelope, versioning (SPEC §2-§3)."""

from __future__ import annotations

import hmac
import time
import uuid
from collections.abc import Awaitable, Callable

import kombu.exceptions
import psycopg
import redis.exceptions
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi_offline import FastAPIOffline
from sqlalchemy.exc import DataError, IntegrityError, InterfaceError
from sqlalchemy.exc import OperationalError as SqlOperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from billrun import __version__, metrics
from billrun.api import schemas
from billrun.api.errors import ApiError, conflict, field_error, validation_error
from billrun.api.http import API_VERSION, SUPPORTED_VERSIONS, JSONResponse, served_version
from billrun.api.limits import BodyTooLarge, RequestLimits
from billrun.api.routers import (
    aliases,
    backtests,
    billing,
    catalog,
    contacts,
    current_usage,
    customers,
    documents,
    events,
    invoice_lines,
    invoices,
    prices,
    schedules,
    tax_rates,
    usage_metrics,
    webhooks,
)
from billrun.billing.errors import Invalid, NotFound, Refused, Unbillable
from billrun.config import get_settings
from billrun.store.db import unit_of_work
from billrun.validation import FieldError, ValidationFailed

log = structlog.get_logger(__name__)
access_log = structlog.get_logger("billrun.access")
UNRECOGNISED_VERSION = {
    "error": {
        "type": "UnrecognisedApiVersion",
        "message": "No matching API version found. Please make sure the specified API version is valid.",
    }
}


def create_app(install_dispatcher: bool = True) -> FastAPI:
    if install_dispatcher:
        from billrun.worker.app import celery

        celery()  # installs the Celery-backed dispatcher
    # The docs page serves Swagger UI from assets inside the installed package: it works with no internet.
    app = FastAPIOffline(
        title="billrun",
        version=__version__,
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        static_url="/api/docs/assets",
    )
    for module in (
        catalog,
        usage_metrics,
        prices,
        customers,
        current_usage,
        contacts,
        aliases,
        tax_rates,
        schedules,
        events,
        documents,
        invoices,
        invoice_lines,
        billing,
        backtests,
        webhooks,
    ):
        app.include_router(module.router, prefix="/api")
    schemas.install(app)

    @app.get("/", include_in_schema=False)
    def front_door() -> RedirectResponse:
        return RedirectResponse("/api/docs")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics(request: Request) -> Response:
        """The Prometheus scrape target. It carries no tenant data (totals only); with BILLRUN_METRICS_TOKEN set
        it also needs that bearer token."""
        token = get_settings().metrics_token
        presented = request.headers.get("authorization", "")
        if token and not hmac.compare_digest(presented.encode(), f"Bearer {token}".encode()):
            return JSONResponse(
                {"error": {"type": "unauthorized", "message": "a bearer token is required"}},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        with unit_of_work() as session:
            body = metrics.render(session)
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.middleware("http")
    async def access(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        access_log.info(
            "request",
            method=request.method,
            path=request.url.path,
            status=response.status_code,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
            client=request.client.host if request.client else None,
        )
        return response

    @app.middleware("http")
    async def sequence_version(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        requested = request.headers.get("sequence-version") or API_VERSION
        if requested not in SUPPORTED_VERSIONS:
            response: Response = JSONResponse(UNRECOGNISED_VERSION, status_code=400)
            response.headers["Sequence-Version"] = API_VERSION
            return response
        token = served_version.set(requested)
        try:
            response = await call_next(request)
        finally:
            served_version.reset(token)
        response.headers["Sequence-Version"] = requested
        return response

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> Response:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers or None)

    @app.exception_handler(Refused)
    async def refused(_: Request, exc: Refused) -> Response:
        """A use case's no: a value never acceptable here is a 400 on its field, a state's refusal a 409."""
        if isinstance(exc, Invalid):
            error = field_error(exc.key, exc.code, str(exc))
        elif isinstance(exc, NotFound):
            error = ApiError(404, "notFound", str(exc), [FieldError(exc.code, str(exc), exc.key)])
        elif isinstance(exc, Unbillable):
            error = ApiError(422, "unbillable", str(exc))
        else:
            error = conflict(str(exc), exc.code, exc.key)
        return JSONResponse(error.body(), status_code=error.status)

    @app.exception_handler(ValidationFailed)
    async def validation_failed(_: Request, exc: ValidationFailed) -> Response:
        error = validation_error(exc.errors)
        return JSONResponse(error.body(), status_code=400)

    @app.exception_handler(RequestValidationError)
    async def request_validation(_: Request, exc: RequestValidationError) -> Response:
        errors = []
        for item in exc.errors():
            location = [str(p) for p in item.get("loc", ()) if p not in ("body", "query", "path")]
            errors.append(FieldError("invalidType", str(item.get("msg", "invalid")), ".".join(location)))
        return JSONResponse(validation_error(errors).body(), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        kind = {404: "notFound", 405: "methodNotAllowed", 401: "unauthorized", 403: "forbidden"}.get(
            exc.status_code, "error"
        )
        return JSONResponse({"error": {"type": kind, "message": str(exc.detail)}}, status_code=exc.status_code)

    @app.exception_handler(BodyTooLarge)
    async def body_too_large(_: Request, exc: BodyTooLarge) -> Response:
        return JSONResponse(
            {"error": {"type": "payloadTooLarge", "message": "the request body is too large"}}, status_code=413
        )

    @app.exception_handler(IntegrityError)
    async def integrity(_: Request, exc: IntegrityError) -> Response:
        """A constraint the validation did not foresee (a concurrent duplicate, say): the caller's fault, told as
        such, never a 500. The transaction has rolled back: nothing was written."""
        constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", None) or "a constraint"
        if isinstance(exc.orig, psycopg.errors.UniqueViolation):
            message = f"a resource with these values exists ({constraint})"
            return JSONResponse(conflict(message).body(), status_code=409)
        error = FieldError("invalidValue", f"the request violates {constraint}", "")
        return JSONResponse(validation_error([error]).body(), status_code=400)

    @app.exception_handler(DataError)
    async def data_error(_: Request, exc: DataError) -> Response:
        error = FieldError("invalidFormat", "a value is out of the range the database can store", "")
        return JSONResponse(validation_error([error]).body(), status_code=400)

    @app.exception_handler(SqlOperationalError)
    @app.exception_handler(InterfaceError)
    @app.exception_handler(redis.exceptions.ConnectionError)
    @app.exception_handler(redis.exceptions.TimeoutError)
    @app.exception_handler(kombu.exceptions.OperationalError)
    async def unavailable(_: Request, exc: Exception) -> Response:
        """PostgreSQL or Redis is restarting or out of reach: retryable, and said so. The pool drops broken
        connections (pre-ping), so the API recovers by itself once the server is back."""
        log.warning("dependency unavailable", error=str(exc).splitlines()[0][:300])
        return JSONResponse(
            {"error": {"type": "serviceUnavailable", "message": "a backing service is unavailable; retry shortly"}},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> Response:
        correlation = str(uuid.uuid4())
        log.exception("unhandled error", correlation_id=correlation, exc_info=exc)
        return JSONResponse(
            {"error": {"type": "internalError", "message": "internal error", "correlationId": correlation}},
            status_code=500,
        )

    app.add_middleware(RequestLimits)
    return app
