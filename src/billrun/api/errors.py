"""The one error envelope of SPEC §3.5, and the exception that carries it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from billrun.validation import FieldError


@dataclass
class ApiError(Exception):
    status: int
    type: str
    message: str
    errors: list[FieldError] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.errors:
            error["errors"] = [e.as_json() for e in self.errors]
        return {"error": error}


def validation_error(errors: list[FieldError]) -> ApiError:
    return ApiError(400, "validationError", "Request data validation failed", errors)


def field_error(key: str, code: str, message: str) -> ApiError:
    return validation_error([FieldError(code, message, key)])


def not_found(what: str = "resource") -> ApiError:
    return ApiError(404, "notFound", f"{what} not found")


def conflict(message: str, code: str = "conflict", key: str = "") -> ApiError:
    return ApiError(409, "conflict", message, [FieldError(code, message, key)])


def invalid_transition(current: str, action: str) -> ApiError:
    return conflict(f"cannot {action} an invoice in status {current}", "invalidStatusTransition", "status")


def forbidden(message: str = "operator-only endpoint") -> ApiError:
    return ApiError(403, "forbidden", message)


def unauthorized() -> ApiError:
    return ApiError(401, "unauthorized", "missing or invalid credentials", headers={"WWW-Authenticate": "Basic"})
