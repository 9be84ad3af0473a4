"""Limits on every request, enforced before any work (README "Security"): body size, and path and query
values that PostgreSQL could not store (NUL, invalid UTF-8). JSON bodies are bounded further when they are
parsed (:func:`billrun.jsonutil.loads_untrusted`: depth, number magnitude, Unicode validity)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billrun import jsonutil

MAX_BODY_BYTES = 1024 * 1024
#: Batch ingestion and CSV uploads carry up to 1,000 events or 10,000 rows.
MAX_BULK_BODY_BYTES = 10 * 1024 * 1024
_BULK_SUFFIXES = ("/batch", "/csv")


class BodyTooLarge(Exception):
    pass


def _error(kind: str, message: str, key: str | None = None) -> bytes:
    error: dict[str, Any] = {"type": kind, "message": message}
    if key is not None:
        error["errors"] = [{"code": "invalidFormat", "message": message, "key": key}]
    return jsonutil.dumps({"error": error}).encode()


def _bad_value(scope: Scope) -> tuple[str, str] | None:
    """(key, message) for a path or query value holding NUL or bytes that are not UTF-8."""
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
    for name, raw in [("path", raw_path), *_query_values(scope.get("query_string", b""))]:
        decoded = unquote_to_bytes(raw)
        if b"\x00" in decoded:
            return name, f"{name} holds a NUL character"
        try:
            decoded.decode("utf-8")
        except UnicodeDecodeError:
            return name, f"{name} is not valid UTF-8"
    return None


def _query_values(query: bytes) -> list[tuple[str, bytes]]:
    pairs = []
    for part in query.split(b"&"):
        key, _, value = part.partition(b"=")
        pairs.append((unquote_to_bytes(key.replace(b"+", b" ")).decode("utf-8", "replace"), key + b"=" + value))
    return pairs


class RequestLimits:
    """Pure ASGI middleware: refuses an oversized body with 413 (from ``Content-Length`` at once, or as soon
    as the streamed body passes the limit), and a NUL or invalid UTF-8 in the path or query with 400."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        bad = _bad_value(scope)
        if bad is not None:
            await _respond(send, 400, _error("validationError", bad[1], key=bad[0]))
            return
        limit = MAX_BULK_BODY_BYTES if scope["path"].endswith(_BULK_SUFFIXES) else MAX_BODY_BYTES
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _respond(send, 413, _error("payloadTooLarge", f"the body is larger than {limit} bytes"))
            return
        received = 0

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _respond(send, 413, _error("payloadTooLarge", f"the body is larger than {limit} bytes"))


async def _respond(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
