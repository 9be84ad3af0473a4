"""A real HTTP receiver on loopback for webhook tests: records every request, answers the statuses it is
told to (then 200), and can hold a request open (a receiver that hangs)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answered in order, then 200
    hang_seconds: float = 0.0  # the next request is held this long before its answer
    lock: threading.Lock = field(default_factory=threading.Lock)

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """Every request's payload, each verified with the standardwebhooks library (raises if one is not)."""
        webhook = Webhook(secret)
        return [dict(webhook.verify(r.body, r.headers)) for r in list(self.requests)]

    def unique(self, secret: str) -> dict[str, dict[str, Any]]:
        """Payloads deduplicated by ``webhook-id``, as a receiver is told to."""
        return {r.headers["webhook-id"]: p for r, p in zip(list(self.requests), self.verified(secret), strict=True)}


@contextmanager
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            with state.lock:
                state.requests.append(Received({k.lower(): v for k, v in self.headers.items()}, body, time.time()))
                status = state.statuses.pop(0) if state.statuses else 200
                hang, state.hang_seconds = state.hang_seconds, 0.0
            if hang:
                time.sleep(hang)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
