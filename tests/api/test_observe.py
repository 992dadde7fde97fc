"""GET /metrics, GET /healthz, the catalogue listings, request ids and the JSON request log."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from api.observe import JsonFormatter, access_log


def test_metrics(ro_client: TestClient) -> None:
    ro_client.get("/v1/recommendations", params={"language": "swa", "task": "xnli"})
    ro_client.get("/v1/recommendations", params={"language": "swa", "task": "nope"})
    ro_client.get("/no/such/path")
    r = ro_client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'stepstone_http_requests_total{method="GET",route="/v1/recommendations",status="200"}' in text
    assert 'stepstone_http_requests_total{method="GET",route="/v1/recommendations",status="404"}' in text
    assert 'route="unmatched"' in text and "/no/such/path" not in text
    assert 'stepstone_http_request_duration_seconds_bucket{le="0.025",method="GET",route="/v1/recommendations"}' \
        in text
    assert 'stepstone_model_info{version="v0001"} 1.0' in text
    runs = next(line for line in text.splitlines() if line.startswith("stepstone_runs "))
    assert float(runs.split()[1]) == ro_client.get("/healthz").json()["runs"] > 1000
    assert "stepstone_models_registered 2.0" in text


def test_catalogue_and_health(ro_client: TestClient) -> None:
    assert ro_client.get("/healthz").json()["model_version"] == "v0001"
    assert any(x["code"] == "swa" for x in ro_client.get("/v1/languages").json())
    assert any(x["id"] == "xnli" for x in ro_client.get("/v1/tasks").json())


def test_request_id(ro_client: TestClient) -> None:
    r = ro_client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    generated = ro_client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"}).headers["x-request-id"]
    assert len(generated) == 32 and generated != ro_client.get("/healthz").headers["x-request-id"]


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def logged(make_client: Callable[..., TestClient]) -> tuple[TestClient, Collect]:
    handler = Collect()
    access_log.addHandler(handler)
    yield make_client(log_requests=True), handler  # type: ignore[misc]
    access_log.removeHandler(handler)


def test_one_json_line_per_request(logged: tuple[TestClient, Collect]) -> None:
    client, handler = logged
    r = client.get("/v1/recommendations", params={"language": "swa", "task": "xnli"},
                   headers={"X-Request-ID": "req-1"})
    client.post("/v1/runs", content="x", headers={"content-type": "text/plain"})
    assert len(handler.lines) == 2
    first, second = (json.loads(line) for line in handler.lines)
    assert first["request_id"] == "req-1" == r.headers["x-request-id"]
    assert (first["method"], first["route"], first["status"]) == ("GET", "/v1/recommendations", 200)
    assert first["duration_ms"] > 0 and first["level"] == "info"
    assert (second["method"], second["path"], second["status"]) == ("POST", "/v1/runs", 415)
    assert second["request_id"] != first["request_id"]


def test_413_is_logged_and_counted(logged: tuple[TestClient, Collect]) -> None:
    client, handler = logged
    r = client.post("/v1/runs", content=b"x" * (10 * 1024 * 1024 + 1), headers={"content-type": "text/csv"})
    assert r.status_code == 413 and r.headers["x-request-id"]
    assert json.loads(handler.lines[-1])["status"] == 413
