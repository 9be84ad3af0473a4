"""One POST to a receiver, refusing what a webhook must never reach.

The address is checked after DNS resolution, at delivery time, and the connection is made to the very address
that was checked (the TLS handshake still verifies the certificate against the URL's host name): a name that
resolves to a public address when the endpoint is saved and to ``127.0.0.1`` or the cloud's metadata service
later (DNS rebinding) is refused. Redirects are never followed."""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

#: Response bodies are kept for the operator's eyes only, and bounded.
BODY_LIMIT = 1024
#: Addresses a webhook never reaches, beyond what ``ipaddress`` calls private, loopback, link-local (where the
#: cloud metadata services live), multicast, reserved and unspecified: carrier-grade NAT.
_SHARED = ipaddress.ip_network("100.64.0.0/10")


class Refused(ValueError):
    """The URL may not be delivered to (its scheme, or an address it resolves to)."""


@dataclass(frozen=True)
class Answer:
    status: int | None
    duration_ms: int
    body: str | None = None
    error: str | None = None


def forbidden_address(address: str) -> str | None:
    """Why ``address`` is not a public unicast address, or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for reason, hit in (
        ("loopback", ip.is_loopback),
        ("unspecified", ip.is_unspecified),
        ("link-local", ip.is_link_local),
        ("private", ip.is_private),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("shared", isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED),
    ):
        if hit:
            return reason
    return None


def check_url(url: str, allow_private: bool) -> None:
    """What can be told from the URL alone (at creation): https (http too when private addresses are allowed),
    a host, no credentials, and no literal private address."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError:
        raise Refused("is not a valid URL (scheme://host[:port]/path)") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise Refused("must be an https URL" if not allow_private else "must be an http or https URL")
    if not parts.hostname:
        raise Refused("has no host")
    if parts.username or parts.password:
        raise Refused("must not carry credentials")
    if not allow_private:
        if parts.hostname == "localhost" or parts.hostname.endswith(".localhost"):
            raise Refused("must not be a loopback host")
        try:
            reason = forbidden_address(parts.hostname)
        except ValueError:
            return  # a name: checked once resolved, at delivery time
        if reason:
            raise Refused(f"must not be a {reason} address")


def _lookup(host: str, port: int, timeout: float) -> list[tuple]:
    """``getaddrinfo`` bounded by ``timeout``: the C resolver takes no deadline (a dead DNS server holds it for
    its own retries, tens of seconds), so it runs on a daemon thread of its own and is abandoned when late. A
    thread per lookup, not a pool: a pool's threads stuck on a dead server would queue every later lookup."""
    outcome: list = []

    def resolve() -> None:
        try:
            outcome.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=resolve, name="webhook-dns", daemon=True)
    worker.start()
    worker.join(timeout)
    if not outcome:
        raise TimeoutError(f"resolving {host}")
    if isinstance(outcome[0], socket.gaierror):
        raise OSError(f"cannot resolve {host}: {outcome[0].strerror}")
    if isinstance(outcome[0], OSError):
        raise outcome[0]
    return outcome[0]


def _resolve(host: str, port: int, allow_private: bool, timeout: float) -> str:
    found = _lookup(host, port, timeout)
    addresses = [str(info[4][0]) for info in found]
    if not allow_private:
        for address in addresses:
            reason = forbidden_address(address)
            if reason:
                raise Refused(f"{host} resolves to a {reason} address ({address})")
    return addresses[0]


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


def _cut(connection: http.client.HTTPConnection) -> None:
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float, allow_private: bool) -> Answer:
    """POST ``body``; never raises for what the receiver or the network does: the answer says it."""
    started = time.monotonic()

    def answer(status: int | None = None, text: str | None = None, error: str | None = None) -> Answer:
        return Answer(status, int((time.monotonic() - started) * 1000), text, error)

    try:
        check_url(url, allow_private)
        parts = urlsplit(url)
        assert parts.hostname is not None
        https = parts.scheme == "https"
        port = parts.port or (443 if https else 80)
        address = _resolve(parts.hostname, port, allow_private, timeout)
        kind = _PinnedHTTPS if https else _PinnedHTTP
        remaining = max(timeout - (time.monotonic() - started), 0.001)  # one deadline for the whole attempt
        connection = kind(parts.hostname, port, address, remaining)
        # the socket timeout bounds each read; a receiver that drips its answer byte by byte is cut off here
        watchdog = threading.Timer(remaining, _cut, (connection,))
        watchdog.start()
        try:
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            connection.request(
                "POST",
                path,
                body=body,
                headers={"Content-Type": "application/json", "User-Agent": "billrun-webhooks", **headers},
            )
            response = connection.getresponse()
            text = response.read(BODY_LIMIT).decode("utf-8", errors="replace")
            return answer(response.status, text)
        finally:
            watchdog.cancel()
            connection.close()
    except Refused as exc:
        return answer(error=f"refused: {exc}")
    except (OSError, http.client.HTTPException) as exc:  # TimeoutError included; a cut socket raises others
        if isinstance(exc, TimeoutError) or time.monotonic() - started >= timeout:
            return answer(error=f"timed out after {timeout:g} s")
        return answer(error=f"{type(exc).__name__}: {exc}"[:500])
