"""A loopback webhook receiver for the benchmarks, in a process of its own (uvicorn), so that what is timed is
billrun's delivery and not the receiver sharing the benchmark's interpreter: answers 200 to every POST and
counts them (``GET /count``)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

_count = 0
QUIET = ("--log-level", "warning", "--no-access-log")


async def app(
    scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]
) -> None:
    global _count
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    body = b""
    if scope["method"] == "POST":
        _count += 1
    else:
        body = str(_count).encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(body)).encode())]}
    )
    await send({"type": "http.response.body", "body": body})


class Receiver:
    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/hooks"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "bench.receiver:app", "--port", str(port), *QUIET],
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(self.url, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the benchmark's receiver did not start") from None
                time.sleep(0.1)

    @property
    def count(self) -> int:
        return int(httpx.get(self.url, timeout=5).text)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
