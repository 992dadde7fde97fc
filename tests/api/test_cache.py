"""The answer cache in front of GET /v1/recommendations: what invalidates it, what it never keeps."""

from __future__ import annotations

from collections.abc import Callable

from api_helpers import run_row
from fastapi.testclient import TestClient

from feature_store.runs.run import Run
from feature_store.runs.store import RunStore

Q = {"language": "swa", "task": "xnli", "k": 50, "candidates": "language"}


def languages(client: TestClient) -> set[str]:
    r = client.get("/v1/recommendations", params=Q)
    assert r.status_code == 200
    return {x["source_language"] for x in r.json()["decisions"]["language"]["recommendations"]}


def test_import_through_the_api_invalidates(client: TestClient) -> None:
    cache = client.app.state.cache  # type: ignore[attr-defined]
    before = languages(client)
    assert "nav" not in before
    client.post("/v1/runs", json=[run_row(source_language="nav", score=0.3)])
    assert "nav" in languages(client)  # the new source is a candidate at once
    assert cache.stats()["misses"] >= 2


def test_import_by_another_process_is_seen_after_the_ttl(make_client: Callable[..., TestClient]) -> None:
    client = make_client(revision_ttl=0.0)
    assert "nav" not in languages(client)
    store = RunStore(client.app.state.service.store.path)  # type: ignore[attr-defined]
    store.insert([Run("xnli", "swa", "xnli", "nav", 0.3, dataset="api-test", model="xlm-r")])
    store.close()
    assert "nav" in languages(client)


def test_errors_are_not_cached(ro_client: TestClient) -> None:
    cache = ro_client.app.state.cache  # type: ignore[attr-defined]
    params = {"language": "swa", "task": "no-such-task"}
    misses = cache.stats()["misses"]
    assert ro_client.get("/v1/recommendations", params=params).status_code == 404
    assert ro_client.get("/v1/recommendations", params=params).status_code == 404
    assert cache.stats()["misses"] == misses + 2
    assert ro_client.get("/v1/recommendations", params={**params, "k": 0}).status_code == 422


def test_cache_off(make_client: Callable[..., TestClient]) -> None:
    client = make_client(cache_entries=0)
    first = client.get("/v1/recommendations", params=Q).content
    assert client.get("/v1/recommendations", params=Q).content == first
    assert client.app.state.cache.stats() == {"hits": 0, "table": 0, "misses": 2, "entries": 0, "bytes": 0}  # type: ignore[attr-defined]


def test_hits_are_counted_and_labelled(ro_client: TestClient) -> None:
    for _ in range(3):
        ro_client.get("/v1/recommendations", params={"language": "hin", "task": "xnli"})
    text = ro_client.get("/metrics").text
    assert "stepstone_answer_cache_hits_total" in text
    assert 'stepstone_http_requests_total{method="GET",route="/v1/recommendations",status="200"}' in text
