"""The server process: uvicorn with read timeouts and connection limits (``stepstone serve``, ``python -m api``).

uvicorn times out idle keep-alive connections (``timeout_keep_alive``) and caps open connections
(``limit_concurrency``: beyond it a request gets 503), but it has no timeout on reading a request:
a client that sends its head one line every 10 s, or its body one byte at a time, holds a
connection and a file descriptor forever, and a thousand of them starve everyone else.
``GuardedProtocol`` adds both: the request head must arrive within ``head_timeout`` seconds of the
connection (or of the previous response), and a body may not pause for more than
``body_idle_timeout`` seconds; a late head gets 408, a stalled body is cut. Connections waiting
for their client (a head, or more of a body) are also capped (``max_waiting``, by default 3/4 of
the open-files limit): one more evicts the one heard from least recently, so that slow clients can
never take the last file descriptors (uvloop resets connections it cannot accept). The soft limit
on open files is raised to the hard one at start.
"""

from __future__ import annotations

import asyncio
import resource
from typing import Any, ClassVar

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api.settings import Settings, get_settings

# The app factory by import string: each worker process imports it itself (a test checks it resolves).
APP_FACTORY = "api.app:create_app"
_LATE = b'{"detail": "the request head was not received in time"}'
_REQUEST_TIMEOUT = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\ncontent-length: "
                    + str(len(_LATE)).encode() + b"\r\nconnection: close\r\n\r\n" + _LATE)


class GuardedProtocol(HttpToolsProtocol):
    """httptools' protocol with a deadline on the request head and an idle limit on the body.

    uvicorn names it by import string (``api.server:GuardedProtocol``), so worker processes build
    it too; its timeouts come from the settings (``STEPSTONE_HEAD_TIMEOUT``, ``..._BODY_IDLE_TIMEOUT``).
    """

    # Connections of this process whose request head has not arrived, oldest first (a dict keeps order).
    waiting: ClassVar[dict[GuardedProtocol, None]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self.head_timeout, self.body_idle_timeout = settings.head_timeout, settings.body_idle_timeout
        self.max_waiting = settings.max_waiting or max(16, resource.getrlimit(resource.RLIMIT_NOFILE)[0] * 3 // 4)
        self._read_timer: asyncio.TimerHandle | None = None

    def _wait_for_head(self) -> None:
        self._arm(self.head_timeout, "head")

    def _arm(self, seconds: float, late: str) -> None:
        """Wait for the client (its head, or more of its body); the least recently heard-from of
        those waiting is evicted when there are more than ``max_waiting``."""
        self._disarm()
        self._read_timer = self.loop.call_later(seconds, self._too_slow, late)
        waiting = GuardedProtocol.waiting
        waiting[self] = None
        while len(waiting) > self.max_waiting:
            oldest = next(iter(waiting))
            oldest._disarm()
            oldest._too_slow("evicted")

    def _disarm(self) -> None:
        GuardedProtocol.waiting.pop(self, None)
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _too_slow(self, late: str) -> None:
        self._read_timer = None
        if self.transport.is_closing():
            return
        if late == "body" and self.flow.read_paused:  # the app is the slow one: not the client's fault
            self._arm(self.body_idle_timeout, "body")
            return
        if late != "body" and (self.cycle is None or self.cycle.response_complete):
            self.transport.write(_REQUEST_TIMEOUT)  # nothing of this request was answered yet
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._wait_for_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._read_timer is None:  # the next request on a kept-alive connection
            self._wait_for_head()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        if self.parser.get_method() not in (b"GET", b"HEAD", b"OPTIONS"):
            self._arm(self.body_idle_timeout, "body")

    def on_body(self, body: bytes) -> None:
        self._arm(self.body_idle_timeout, "body")
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()


def raise_open_files_limit() -> int:
    """Raise the soft limit on open files to the hard one; returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 65536 if hard == resource.RLIM_INFINITY else hard
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def config(host: str, port: int, *, workers: int = 1, settings: Settings | None = None) -> uvicorn.Config:
    """The uvicorn configuration every way of serving uses."""
    settings = settings or get_settings()
    return uvicorn.Config(APP_FACTORY, factory=True, host=host, port=port, workers=workers,
                          log_level="warning", access_log=False, http="api.server:GuardedProtocol",
                          timeout_keep_alive=settings.keep_alive_timeout,
                          limit_concurrency=settings.limit_concurrency, backlog=settings.backlog)


def serve(host: str | None = None, port: int | None = None, *, workers: int = 1) -> None:
    """Serve until interrupted (uvicorn's own signal handling)."""
    settings = get_settings()
    raise_open_files_limit()
    cfg = config(host or settings.host, port or settings.port, workers=workers, settings=settings)
    server = uvicorn.Server(cfg)
    if cfg.workers > 1:
        from uvicorn.supervisors import Multiprocess

        sock = cfg.bind_socket()
        Multiprocess(cfg, sockets=[sock]).run()
    else:
        server.run()
