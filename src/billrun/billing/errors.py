"""How a use case says no. It raises these with plain words and an error code; the HTTP layer (one exception
handler in ``api/app.py``) turns them into SPEC §3's envelope, so no use case knows a status code."""

from __future__ import annotations


class Refused(Exception):
    """What the current state of the data forbids (HTTP 409). ``code`` is the error code, ``key`` the field at
    fault ("" when none is)."""

    def __init__(self, message: str, code: str = "conflict", key: str = "") -> None:
        super().__init__(message)
        self.code, self.key = code, key


class Invalid(Refused):
    """A value the request carries that can never be accepted in this state (HTTP 400 on ``key``)."""


class NotFound(Refused):
    """What the request names does not exist (HTTP 404)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "notFound")


class Unbillable(Refused):
    """Inputs billrun cannot bill in bounded time, such as an amount outside its range (HTTP 422)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "unbillable")


class TransitionRefused(Refused):
    """A status change the invoice's current status does not allow."""

    def __init__(self, current: str, action: str) -> None:
        super().__init__(f"cannot {action} an invoice in status {current}", "invalidStatusTransition", "status")
        self.current, self.action = current, action
