"""Requests an attacker or a careless user sends: a rebound Host, a typo'd filter, lone surrogates."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable

import pytest
from api_helpers import run_row
from fastapi.testclient import TestClient

REBOUND = {"Host": "attacker.example:8000", "Origin": "http://attacker.example:8000", "Sec-Fetch-Site": "same-origin"}


def _total(client: TestClient) -> int:
    return sum(int(t["runs"]) for t in client.get("/v1/tasks").json())


def test_a_rebound_host_cannot_delete_or_retrain(client: TestClient) -> None:
    before = _total(client)
    r = client.delete("/v1/runs", params={"target_task": "xnli"}, headers=REBOUND)
    assert r.status_code == 400 and "host 'attacker.example:8000' is not served here" in r.json()["detail"]
    assert client.post("/v1/models", headers=REBOUND).status_code == 400
    assert client.get("/v1/runs", params={"limit": 1}, headers=REBOUND).status_code == 400  # reads too
    assert _total(client) == before


@pytest.mark.parametrize("host", ["localhost:8000", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST."])
def test_loopback_names_are_served(ro_client: TestClient, host: str) -> None:
    assert ro_client.get("/healthz", headers={"Host": host}).status_code == 200


def test_the_allowed_hosts_are_configurable(make_client: Callable[..., TestClient]) -> None:
    client = make_client(allowed_hosts="stepstone.lab.example")
    assert client.get("/healthz", headers={"Host": "stepstone.lab.example:8000"}).status_code == 200
    assert client.get("/healthz", headers={"Host": "localhost"}).status_code == 400
    assert make_client(allowed_hosts="*").get("/healthz", headers={"Host": "any.example"}).status_code == 200


def test_a_typo_in_a_delete_filter_deletes_nothing(client: TestClient) -> None:
    n = client.get("/v1/runs", params={"target_task": "tydiqa", "limit": 1000}).json()["total"]
    assert n > 0
    r = client.delete("/v1/runs", params={"datset": "none-such", "target_task": "tydiqa", "expected": n})
    assert r.status_code == 422
    assert "unknown query parameter 'datset'" in r.json()["detail"] and "dataset" in r.json()["detail"]
    assert client.get("/v1/runs", params={"target_task": "tydiqa", "limit": 1000}).json()["total"] == n


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1/recommendations?language=sw&task=xnli&lang=de"), ("GET", "/v1/runs?limt=5"),
    ("GET", "/v1/languages?x=1"), ("GET", "/v1/tasks?x=1"), ("GET", "/healthz?x=1"), ("GET", "/metrics?x=1"),
    ("GET", "/v1/models?x=1"), ("GET", "/v1/models/current?x=1"), ("POST", "/v1/models?dry=1"),
    ("POST", "/v1/models/v0001/activate?force=1"), ("POST", "/v1/runs?replce=true"),
    ("POST", "/v1/recommendations/batch?k=3"), ("POST", "/v1/plans?budget=3"),
])
def test_unknown_query_parameters_are_refused_everywhere(ro_client: TestClient, method: str, path: str) -> None:
    name = path.split("?")[1].split("&")[-1].split("=")[0]
    r = ro_client.request(method, path, json={})
    assert r.status_code == 422, r.text
    assert f"unknown query parameter {name!r}" in r.json()["detail"]


SURROGATE = "\\ud800"  # a JSON escape for a lone surrogate: valid JSON, not encodable UTF-8


@pytest.mark.parametrize("field", ["dataset", "model", "metric", "source_language", "target_language",
                                   "source_task"])
def test_lone_surrogates_in_a_json_import_are_a_422(client: TestClient, field: str) -> None:
    body = '[{"target_task": "xnli", "target_language": "swa", "source_task": "mnli", ' \
           '"source_language": "eng", "score": 0.5}]'
    body = body.replace('"score"', f'"{field}": "{SURROGATE}", "score"') if field not in body else \
        body.replace(f'"{field}": "', f'"{field}": "{SURROGATE}', 1)
    r = client.post("/v1/runs", content=body.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert "detail" in r.json()


def test_lone_surrogates_in_jsonl_and_batch_are_4xx(client: TestClient) -> None:
    line = ('{"target_task": "xnli", "target_language": "' + SURROGATE + '", "source_task": "mnli", '
            '"source_language": "eng", "score": 0.5}')
    r = client.post("/v1/runs", content=line.encode(), headers={"content-type": "application/x-ndjson"})
    assert r.status_code == 422 and r.json()["column"] == "target_language"
    batch = '{"queries": [{"language": "' + SURROGATE + '", "task": "xnli"}]}'
    r = client.post("/v1/recommendations/batch", content=batch.encode(), headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500, r.text
    plan = '{"task": "xnli", "languages": ["' + SURROGATE + '"], "budget": 2}'
    r = client.post("/v1/plans", content=plan.encode(), headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500, r.text
    assert client.post("/v1/runs", json=[run_row()]).status_code == 200  # the server still writes


def test_7_5_is_not_stored_as_75(client: TestClient) -> None:
    for score in ("7_5", "7.5_0"):
        r = client.post("/v1/runs", json=[run_row(score=score)])
        assert r.status_code == 422 and r.json()["column"] == "score", r.text
    r = client.post("/v1/runs", content=b"target_task,target_language,source_task,source_language,score\n"
                                        b"xnli,swa,mnli,eng,7_5\n", headers={"content-type": "text/csv"})
    assert r.status_code == 422 and r.json()["value"] == "7_5"


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EROFS])
def test_a_full_disk_or_read_only_home_is_a_503_for_retrain_and_activate(
        client: TestClient, monkeypatch: pytest.MonkeyPatch, err: int) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(err, os.strerror(err))

    before = client.get("/v1/models/current").json()["version"]
    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    r = client.post("/v1/models")
    assert r.status_code == 503 and "cannot be written" in r.json()["detail"], r.text
    r = client.post("/v1/models/v0002/activate")
    assert r.status_code == 503 and "nothing was changed" in r.json()["detail"], r.text
    assert client.get("/v1/models/current").json()["version"] == before


def test_an_unknown_language_is_answered_before_routing_with_the_routes_answer(ro_client: TestClient) -> None:
    from api.cache import unknown_language
    from api.replies import error_response

    r = ro_client.get("/v1/recommendations", params={"language": "Swahilli", "task": "xnli"})
    assert r.status_code == 404
    assert r.json() == {"code": "unknown_language", "detail": "unknown language 'Swahilli'; did you mean swa "
                        "(Swahili)?", "value": "Swahilli", "suggestions": ["swa (Swahili)"]}
    refused = unknown_language(b"language=Swahilli&task=xnli")
    assert refused is not None and error_response(refused).body == r.content
    assert unknown_language(b"language=swa&task=xnli") is None  # resolved: the route answers
    assert unknown_language(b"language=zzzz&task=xnli&extra=1") is None  # not a plain query: the route decides
    r = ro_client.get("/v1/recommendations", params={"language": "zxx", "task": "xnli"})
    assert r.status_code == 422 and "no linguistic content" in r.json()["detail"]
