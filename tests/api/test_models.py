"""POST /v1/models, GET /v1/models, GET /v1/models/current, POST /v1/models/{version}/activate."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from recommender import service as service_module
from recommender.evaluation import metrics

Q = {"language": "swa", "task": "xnli"}


def test_retrain_registers_and_activates(client: TestClient) -> None:
    r = client.post("/v1/models")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["version"] == "v0003" and body["current"] is True
    assert body["runs"] > 1000 and body["queries"] > 10
    ev = body["evaluation"]
    assert ev["kind"] == "in-sample" and ev["queries"] == body["queries"]
    assert 0.0 <= ev["metrics"]["ndcg@3"] <= 1.0 and ev["metrics"]["top1_loss_pct"] >= 0.0
    assert client.get("/v1/models/current").json()["version"] == "v0003"
    assert client.get("/v1/recommendations", params=Q).json()["model_version"] == "v0003"
    listing = client.get("/v1/models").json()
    assert [m["version"] for m in listing] == ["v0001", "v0002", "v0003"]
    assert [m["current"] for m in listing] == [False, False, True]
    assert listing[2]["evaluation"] == ev


def test_activate_rolls_forward_and_back(client: TestClient) -> None:
    r = client.post("/v1/models/v0002/activate")
    assert r.status_code == 200 and r.json()["version"] == "v0002" and r.json()["current"]
    assert client.get("/v1/recommendations", params=Q).json()["model_version"] == "v0002"
    assert client.get("/v1/models/current").json()["version"] == "v0002"
    client.post("/v1/models/v0001/activate")
    assert client.get("/v1/recommendations", params=Q).json()["model_version"] == "v0001"
    assert [m["current"] for m in client.get("/v1/models").json()] == [True, False]


def test_activate_unknown_version(client: TestClient) -> None:
    r = client.post("/v1/models/v0042/activate")
    assert r.status_code == 404 and "v0042" in r.json()["detail"] and "v0001" in r.json()["detail"]
    assert client.post("/v1/models/latest/activate").status_code == 422


@pytest.mark.parametrize("name", ["ranker.txt", "meta.json", "prior.json"])
def test_tampered_version_is_refused(client: TestClient, home: Path, name: str) -> None:
    path = home / "models" / "versions" / "v0002" / name
    text = path.read_text()
    path.write_text(text.replace("0", "1", 1) if name != "meta.json" else text[: len(text) // 2])
    r = client.post("/v1/models/v0002/activate")
    assert r.status_code == 409
    assert "v0002" in r.json()["detail"]
    assert ("checksum" in r.json()["detail"]) if name != "meta.json" else ("not valid JSON" in r.json()["detail"])
    assert client.get("/v1/models/current").json()["version"] == "v0001"
    assert client.get("/v1/recommendations", params=Q).json()["model_version"] == "v0001"
    listing = {m["version"]: m for m in client.get("/v1/models").json()}
    assert listing["v0001"]["current"] is True
    if name == "meta.json":
        assert "not valid JSON" in listing["v0002"]["error"]


def test_missing_model_file_is_refused(client: TestClient, home: Path) -> None:
    (home / "models" / "versions" / "v0002" / "gain.txt").unlink()
    r = client.post("/v1/models/v0002/activate")
    assert r.status_code == 409 and "gain.txt is missing" in r.json()["detail"]


def test_failing_retrain_keeps_the_current_model(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    service = client.app.state.service  # type: ignore[attr-defined]

    def broken(**_: object) -> dict[str, object]:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(service, "retrain", broken)
    r = client.post("/v1/models")
    assert r.status_code == 500
    assert r.headers["x-request-id"] in r.json()["detail"]  # quotable in a bug report
    assert client.get("/v1/models/current").json()["version"] == "v0001"
    assert client.get("/v1/recommendations", params=Q).status_code == 200
    assert [m["version"] for m in client.get("/v1/models").json()] == ["v0001", "v0002"]


def test_retrain_that_registers_a_bad_version_keeps_serving(client: TestClient, home: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A version that fails verification after it was written is never switched to."""
    real = metrics.in_sample_summary

    def tamper_then_evaluate(model, ts):  # type: ignore[no-untyped-def]
        (home / "models" / "versions" / "v0003" / "ranker.txt").write_text("tree\n")
        return real(model, ts)

    monkeypatch.setattr(metrics, "in_sample_summary", tamper_then_evaluate)
    r = client.post("/v1/models")
    assert r.status_code == 409
    assert client.get("/v1/models/current").json()["version"] == "v0001"
    assert client.get("/v1/recommendations", params=Q).json()["model_version"] == "v0001"


def test_corrupted_current_model_falls_back_and_says_so(make_client: Callable[..., TestClient], home: Path,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    meta = home / "models" / "versions" / "v0001" / "meta.json"
    data = json.loads(meta.read_text())
    data["files"]["ranker.txt"] = "0" * 64
    meta.write_text(json.dumps(data))
    with caplog.at_level("ERROR", logger="stepstone"):
        client = make_client()  # starts: the other registered version serves
    assert client.get("/healthz").json()["model_version"] == "v0002"
    assert "model v0001 (current) cannot be used" in caplog.text and "does not match its checksum" in caplog.text


def test_retrain_in_a_child_process(make_client: Callable[..., TestClient]) -> None:
    client = make_client(retrain_in_subprocess=True)
    r = client.post("/v1/models")
    assert r.status_code == 201, r.text
    assert r.json()["version"] == "v0003" and r.json()["evaluation"]["kind"] == "in-sample"
    assert client.get("/v1/recommendations", params=Q).json()["model_version"] == "v0003"


def _child_reports_no_model(home: str, params: dict, answer: Connection) -> None:
    answer.send({"error": "NoModel", "detail": "no queries to train on"})
    sys.exit(1)


def _child_crashes(home: str, params: dict, answer: Connection) -> None:
    sys.stderr.write("Traceback: segfault")
    os._exit(3)  # dies without an answer, as a segfault would


@pytest.mark.parametrize(("child", "status", "text"), [
    (_child_reports_no_model, 404, "no queries"),
    (_child_crashes, 500, None),
])
def test_child_retrain_failure_keeps_the_current_model(make_client: Callable[..., TestClient],
                                                       monkeypatch: pytest.MonkeyPatch, child: Callable,
                                                       status: int, text: str | None) -> None:
    client = make_client(retrain_in_subprocess=True)
    monkeypatch.setattr(service_module, "retrain_job", child)
    r = client.post("/v1/models")
    assert r.status_code == status
    if text:
        assert text in r.json()["detail"]
    assert client.get("/v1/models/current").json()["version"] == "v0001"
    assert client.get("/v1/recommendations", params=Q).json()["model_version"] == "v0001"
