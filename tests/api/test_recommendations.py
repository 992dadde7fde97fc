"""GET /v1/recommendations and POST /v1/recommendations/batch."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

Q = {"language": "swa", "task": "xnli"}


def test_recommendations(ro_client: TestClient) -> None:
    r = ro_client.get("/v1/recommendations", params={**Q, "k": 5})
    assert r.status_code == 200
    body = r.json()
    assert body["query"]["language"] == "swa" and body["query"]["k"] == 5
    assert "recommendations" not in body and "advice" not in body  # two decisions: never one list over two scales
    assert set(body["decisions"]) == {"intermediate", "language"}
    assert [x["rank"] for x in body["decisions"]["language"]["recommendations"]] == [1, 2, 3, 4, 5]
    assert body["decisions"]["intermediate"]["basis"] == "published per target task"
    assert body["model_version"] == "v0001" and body["noise_threshold"] == 1.0
    one = ro_client.get("/v1/recommendations", params={**Q, "candidates": "intermediate"}).json()
    assert set(one) == set(body)  # one shape for every `candidates`: the other decision is empty
    assert one["decisions"]["language"]["recommendations"] == [] and one["decisions"]["language"]["advice"] is None
    intermediate = one["decisions"]["intermediate"]
    assert intermediate == body["decisions"]["intermediate"]
    # published X-STILTs gains for XNLI straddle the noise threshold: a run would decide, with its cost
    assert intermediate["advice"] == "measure first" and intermediate["advice_sources"]
    assert len(intermediate["costs"]) == len(intermediate["advice_sources"])


def test_answers_are_cached_and_identical(ro_client: TestClient) -> None:
    cache = ro_client.app.state.cache  # type: ignore[attr-defined]
    first = ro_client.get("/v1/recommendations", params={**Q, "k": 7}).content
    hits = cache.hits
    assert ro_client.get("/v1/recommendations", params={**Q, "k": 7}).content == first
    assert cache.hits == hits + 1


def test_language_by_name(ro_client: TestClient) -> None:
    r = ro_client.get("/v1/recommendations", params={"language": "Swahili", "task": "xnli"})
    assert r.status_code == 200 and r.json()["query"]["language"] == "swa"


@pytest.mark.parametrize("k", [0, 51, -1, "x"])
def test_k_out_of_range(ro_client: TestClient, k: object) -> None:
    assert ro_client.get("/v1/recommendations", params={**Q, "k": k}).status_code == 422


def test_unknown_language_names_the_value(ro_client: TestClient) -> None:
    r = ro_client.get("/v1/recommendations", params={"language": "swahilli", "task": "xnli"})
    assert r.status_code == 404
    assert r.json()["value"] == "swahilli" and "swahilli" in r.json()["detail"]
    assert r.json()["code"] == "unknown_language"  # a stable code a client can switch on


def test_unknown_task(ro_client: TestClient) -> None:
    r = ro_client.get("/v1/recommendations", params={"language": "swa", "task": "xnlii"})
    assert r.status_code == 404 and r.json()["value"] == "xnlii" and r.json()["code"] == "unknown_task"


def test_bad_candidates_and_missing_params(ro_client: TestClient) -> None:
    assert ro_client.get("/v1/recommendations", params={**Q, "candidates": "some"}).status_code == 422
    assert ro_client.get("/v1/recommendations", params={"task": "xnli"}).status_code == 422


def test_batch(ro_client: TestClient) -> None:
    queries = [{"language": "swa", "task": "xnli", "k": 2}, {"language": "nope-lang", "task": "xnli"},
               {"language": "hin", "task": "xnli", "candidates": "language"}]
    r = ro_client.post("/v1/recommendations/batch", json={"queries": queries})
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["index"] for x in results] == [0, 1, 2]
    assert len(results[0]["result"]["decisions"]["language"]["recommendations"]) == 2
    assert results[0]["error"] is None
    assert results[1]["result"] is None and results[1]["error"]["type"] == "UnknownLanguage"
    decisions = results[2]["result"]["decisions"]
    assert decisions["language"]["recommendations"]
    assert all(x["kind"] == "language" for x in decisions["language"]["recommendations"])
    assert decisions["intermediate"]["recommendations"] == []


def test_batch_limits(ro_client: TestClient) -> None:
    one = {"language": "swa", "task": "xnli"}
    assert ro_client.post("/v1/recommendations/batch", json={"queries": [one] * 1001}).status_code == 422
    assert ro_client.post("/v1/recommendations/batch", json={"queries": []}).status_code == 422
    r = ro_client.post("/v1/recommendations/batch", json={"queries": [{**one, "extra": 1}]})
    assert r.status_code == 422
    assert ro_client.post("/v1/recommendations/batch", json={"queries": [{**one, "k": 51}]}).status_code == 422


def test_batch_of_1000(ro_client: TestClient) -> None:
    r = ro_client.post("/v1/recommendations/batch", json={"queries": [Q] * 1000})
    assert r.status_code == 200 and len(r.json()["results"]) == 1000


def test_settings_lower_the_batch_limit(make_client) -> None:  # type: ignore[no-untyped-def]
    client = make_client(max_batch=2)
    r = client.post("/v1/recommendations/batch", json={"queries": [Q] * 3})
    assert r.status_code == 422 and "at most 2" in r.json()["detail"]
