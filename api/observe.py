"""The edge of every request: request id, body-size limit, Prometheus metrics, one JSON log line.

One pure ASGI middleware (cheaper than Starlette's ``BaseHTTPMiddleware``) does all four:

- ``X-Request-ID``: taken from the request when it is a sane token, else a new one; echoed back.
- Bodies over ``max_body_bytes`` get 413: up front from ``Content-Length``, and while streaming
  (chunked bodies carry no length) by counting what the app reads.
- Request counts and latency by route template (``/v1/runs``, not the raw path, so labels stay few).
- A JSON line per request on the ``stepstone.access`` logger.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi import HTTPException
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import ClientDisconnect

Scope = dict[str, Any]
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
access_log = logging.getLogger("stepstone.access")
error_log = logging.getLogger("stepstone.error")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        data.update(getattr(record, "fields", {}))
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def configure_logging() -> None:
    """Log requests at INFO; a JSON handler on stderr unless someone gave the logger handlers already."""
    for logger in (access_log, error_log):
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)
        if not logger.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(JsonFormatter())
            logger.addHandler(handler)
            logger.propagate = False


class ServiceCollector(Collector):
    """Gauges read at scrape time: runs in the store, the live model version, registered versions."""

    def __init__(self, gauges: Callable[[], dict[str, Any]],
                 cache: Callable[[], dict[str, int] | None]) -> None:
        self.gauges, self.cache = gauges, cache

    def collect(self) -> Iterator[Metric]:
        stats = self.cache()
        if stats is not None:
            yield CounterMetricFamily("stepstone_answer_cache_hits", "Recommendation answers replayed from the cache",
                                      value=stats["hits"])
            yield CounterMetricFamily("stepstone_answer_table_hits", "Recommendation answers read from the "
                                      "precomputed answer table", value=stats.get("table", 0))
            yield CounterMetricFamily("stepstone_answer_cache_misses", "Recommendation answers computed",
                                      value=stats["misses"])
        g = self.gauges()
        yield GaugeMetricFamily("stepstone_runs", "Runs in the store", value=g["runs"])
        yield GaugeMetricFamily("stepstone_models_registered", "Registered model versions", value=g["models"])
        info = GaugeMetricFamily("stepstone_model_info", "The live model version (value 1)", labels=["version"])
        if g["model_version"]:
            info.add_metric([g["model_version"]], 1.0)
        yield info


class Metrics:
    """One registry per app, so that tests building several apps do not collide."""

    def __init__(self, gauges: Callable[[], dict[str, Any]],
                 cache: Callable[[], dict[str, int] | None] = lambda: None) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("stepstone_http_requests", "HTTP requests by route and status",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("stepstone_http_request_duration_seconds", "Request latency by route",
                                 ["method", "route"], buckets=BUCKETS, registry=self.registry)
        self.registry.register(ServiceCollector(gauges, cache))


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body is larger than {limit} bytes")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class EdgeMiddleware:
    def __init__(self, app: Any, *, metrics: Metrics, max_body_bytes: int, log: bool = True) -> None:
        self.app, self.metrics, self.max_body, self.log = app, metrics, max_body_bytes, log

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        given = _header(scope, b"x-request-id")
        request_id = given if given and _REQUEST_ID.match(given) else uuid.uuid4().hex
        rid = request_id.encode()
        state = {"status": 500, "started": False, "received": 0}
        limit = self.max_body

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                state["status"], state["started"] = message["status"], True
                message = {**message, "headers": [*message.get("headers", ()), (b"x-request-id", rid)]}
            await send(message)

        async def receive_limited() -> dict[str, Any]:
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > limit:
                    raise BodyTooLarge(limit)
            return message

        try:
            length = _header(scope, b"content-length")
            if length is not None and length.isdigit() and int(length) > limit:
                await self._reject(send_with_id, 413, BodyTooLarge(limit).detail)
            else:
                await self.app(scope, receive_limited, send_with_id)
        except BodyTooLarge as exc:
            if state["started"]:
                raise
            await self._reject(send_with_id, 413, exc.detail)
        except ClientDisconnect:
            state["status"] = 499  # the client went away (or was cut for stalling): nobody to answer
        except Exception:
            # An unexpected error: answer 500 with the request id (to quote in a bug report) and log
            # the traceback as one JSON line, instead of the bare 500 of the server's last resort.
            error_log.exception("unhandled error", extra={"fields": {"request_id": request_id}})
            if state["started"]:
                raise
            state["status"] = 500
            await self._reject(send_with_id, 500, f"internal server error (request id {request_id})")
        finally:
            self._record(scope, request_id, int(state["status"]), time.perf_counter() - t0)

    @staticmethod
    async def _reject(send: Any, status: int, detail: str) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})

    def _record(self, scope: Scope, request_id: str, status: int, seconds: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or scope.get("route_template") or "unmatched"
        method = scope["method"]
        self.metrics.requests.labels(method, template, str(status)).inc()
        self.metrics.latency.labels(method, template).observe(seconds)
        if self.log:
            client = scope.get("client")
            access_log.info("request", extra={"fields": {
                "request_id": request_id, "method": method, "path": scope["path"], "route": template,
                "status": status, "duration_ms": round(seconds * 1000, 3),
                "client": client[0] if client else None}})
