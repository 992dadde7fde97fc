"""Writes: a token where one is set; else this machine only, and never from another site's page."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from api_helpers import TOKEN, run_row
from fastapi.testclient import TestClient

from api.cache import AnswerCache


def _runs_total(client: TestClient) -> int:
    return int(client.get("/v1/runs", params={"limit": 1}).json()["total"])


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"},
    {"Origin": "null"},
    {"Origin": "http://localhost.evil.example"},
    {"Sec-Fetch-Site": "cross-site"},
])
def test_cross_origin_writes_are_refused_without_a_token(client: TestClient, headers: dict[str, str]) -> None:
    before = _runs_total(client)
    r = client.post("/v1/runs", json=[run_row()], headers=headers)
    assert r.status_code == 403 and "refused" in r.json()["detail"]
    # the "simple" multipart form any web page can make a browser send
    r = client.post("/v1/runs", files={"file": ("runs.csv", b"target_task,target_language,source_task,"
                                                            b"source_language,score\nxnli,swa,xnli,fra,0.6\n")},
                    headers=headers)
    assert r.status_code == 403
    assert client.post("/v1/models/v0002/activate", headers=headers).status_code == 403
    assert _runs_total(client) == before
    assert client.get("/v1/models/current").json()["version"] == "v0001"


def test_same_origin_and_local_writes_are_accepted_without_a_token(client: TestClient) -> None:
    assert client.post("/v1/runs", json=[run_row()], headers={"Origin": "http://localhost"}).status_code == 200
    assert client.post("/v1/runs", json=[run_row(seed=2)]).status_code == 200  # curl sends no Origin


def test_remote_writes_need_a_token(make_client: Callable[..., TestClient]) -> None:
    local = make_client()
    remote = TestClient(local.app, client=("203.0.113.9", 40000), raise_server_exceptions=False, base_url="http://localhost")
    r = remote.post("/v1/runs", json=[run_row()])
    assert r.status_code == 403 and "STEPSTONE_API_TOKEN" in r.json()["detail"]
    assert remote.get("/v1/recommendations", params={"language": "sw", "task": "xnli"}).status_code == 200


def test_the_token_is_checked_before_the_body_is_read(make_client: Callable[..., TestClient]) -> None:
    client = make_client(api_token=TOKEN)
    r = client.post("/v1/recommendations/batch", content=b"{" * 100_000, headers={"content-type": "application/json"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    ok = client.post("/v1/recommendations/batch", json={"queries": [{"language": "sw", "task": "xnli"}]},
                     headers={"Authorization": f"Bearer {TOKEN}", "Origin": "http://elsewhere.example"})
    assert ok.status_code == 200  # with a token, the token is the rule


def test_deep_or_huge_json_is_a_422_not_a_500(client: TestClient) -> None:
    deep = ("[" * 1000 + "]" * 1000).encode()
    r = client.post("/v1/runs", content=deep, headers={"content-type": "application/json"})
    assert r.status_code == 422 and "invalid JSON" in r.json()["detail"]
    huge = ('[{"target_task": "xnli", "target_language": "swa", "source_task": "xnli", "source_language": "fra",'
            ' "score": ' + "9" * 5000 + "}]").encode()
    r = client.post("/v1/runs", content=huge, headers={"content-type": "application/json"})
    assert r.status_code == 422


def test_the_answer_cache_is_bounded_by_bytes_and_ignores_junk_parameters(client: TestClient) -> None:
    cache: AnswerCache = client.app.state.cache  # type: ignore[attr-defined]
    junk = "x" * 60_000
    for i in range(5):
        r = client.get("/v1/recommendations", params={"language": "sw", "task": "xnli", "junk": f"{i}{junk}"})
        assert r.status_code == 422 and "unknown query parameter 'junk'" in r.json()["detail"]
    assert cache.stats()["entries"] == 0  # refused, never cached
    cache.max_bytes = 5_000
    for k in range(1, 20):
        client.get("/v1/recommendations", params={"language": "sw", "task": "xnli", "k": k})
    assert 0 < cache.stats()["bytes"] <= 5_000
