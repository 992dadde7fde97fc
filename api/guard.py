"""The guards: which Host names are served, and who may change the store or the live model.

Every request must name an allowed host (``STEPSTONE_ALLOWED_HOSTS``, loopback names by default):
a page on another site that re-points its DNS name to 127.0.0.1 ("DNS rebinding") sends its own
name in ``Host``, and so does every request it makes, so it is refused before anything else runs.

With ``STEPSTONE_API_TOKEN`` set, a write needs ``Authorization: Bearer <token>``. Without one
(the default of ``make run``), writes are open to this machine only: a write from a non-loopback
client is refused, and so is one that a browser sends from another site (an ``Origin`` that is
not the server's own, ``Origin: null``, or ``Sec-Fetch-Site: cross-site``/``same-site``), since any
web page can make a browser send a "simple" POST to 127.0.0.1. Reads are never guarded.

Both are ASGI middleware so that they run before routing and body parsing: a refused request
costs nothing, whatever its body.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

# Read-only computations that use POST for their body: not writes.
READ_ONLY_POSTS = frozenset({"/v1/plans"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_write(method: str, path: str) -> bool:
    return method in WRITE_METHODS and path.startswith("/v1/") and path.rstrip("/") not in READ_ONLY_POSTS


def _loopback(host: str | None) -> bool:
    if not host:
        return True  # a Unix socket: this machine
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return host == "localhost"


def _headers(scope: dict[str, Any]) -> dict[bytes, str]:
    return {k.lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}


def host_name(host: str) -> str:
    """The name in a ``Host`` header, without its port or a final dot, lower-case (``[::1]:80`` -> ``::1``)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") == 1:
        host = host.partition(":")[0]
    return host.rstrip(".")


def parse_hosts(spec: str) -> frozenset[str]:
    """``"localhost, 127.0.0.1"`` -> the allowed names; ``*`` allows any."""
    return frozenset(host_name(h) for h in spec.split(",") if h.strip())


def host_refusal(scope: dict[str, Any], allowed: frozenset[str]) -> str | None:
    """Why this request's Host is not served, or None (an HTTP/1.0 request without Host is local)."""
    if "*" in allowed:
        return None
    host = _headers(scope).get(b"host")
    if host is None or host_name(host) in allowed:
        return None
    return (f"host {host!r} is not served here; allowed: {', '.join(sorted(allowed))} "
            "(set STEPSTONE_ALLOWED_HOSTS to add a name)")


def refusal(scope: dict[str, Any], token: str | None) -> tuple[int, str, list[tuple[bytes, bytes]]] | None:
    """(status, detail, extra headers) when this write must be refused; None when it may go on."""
    headers = _headers(scope)
    if token:
        given = headers.get(b"authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), token.encode()):
            return 401, "missing or wrong bearer token", [(b"www-authenticate", b"Bearer")]
        return None
    client = scope.get("client")
    if not _loopback(client[0] if client else None):
        return 403, ("writes are open to this machine only while STEPSTONE_API_TOKEN is not set; "
                     "set it to accept writes from other hosts"), []
    origin = headers.get(b"origin")
    if origin is not None:
        own = headers.get(b"host", "")
        parts = urlsplit(origin)
        if origin == "null" or parts.netloc.lower() != own.lower():
            return 403, f"cross-origin write refused (Origin {origin!r} is not this server's own)", []
    if headers.get(b"sec-fetch-site") in ("cross-site", "same-site"):
        return 403, "cross-site write refused (Sec-Fetch-Site)", []
    return None


class WriteGuard:
    """ASGI middleware: refuse a Host not allowed, and writes that the token or the origin rules do not allow."""

    def __init__(self, app: Any, *, token: Callable[[], str | None], hosts: str = "localhost,127.0.0.1,::1") -> None:
        self.app, self.token, self.hosts = app, token, parse_hosts(hosts)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            bad_host = host_refusal(scope, self.hosts)
            if bad_host is not None:
                await _refuse(send, 400, bad_host, [])
                return
            if is_write(scope["method"], scope["path"]):
                refused = refusal(scope, self.token())
                if refused is not None:
                    await _refuse(send, *refused)
                    return
        await self.app(scope, receive, send)


async def _refuse(send: Any, status: int, detail: str, extra: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *extra]})
    await send({"type": "http.response.body", "body": body})
