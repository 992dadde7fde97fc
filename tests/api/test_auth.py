"""Bearer auth on writes when STEPSTONE_API_TOKEN is set; open when it is not."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from api_helpers import TOKEN, run_row
from fastapi.testclient import TestClient

WRITES = [("/v1/runs", {"json": [run_row()]}),
          ("/v1/recommendations/batch", {"json": {"queries": [{"language": "swa", "task": "xnli"}]}}),
          ("/v1/models/v0001/activate", {}),
          ("/v1/models", {})]


@pytest.fixture(scope="module")
def refusing(module_client: Callable[..., TestClient]) -> TestClient:
    return module_client(api_token=TOKEN)


@pytest.fixture
def secured(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client(api_token=TOKEN)


@pytest.mark.parametrize(("path", "kwargs"), WRITES)
@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer "])
def test_writes_need_the_token(refusing: TestClient, path: str, kwargs: dict[str, object],
                               header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    r = refusing.post(path, headers=headers, **kwargs)  # type: ignore[arg-type]
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert [m["version"] for m in refusing.get("/v1/models").json()] == ["v0001", "v0002"]  # nothing written
    assert refusing.get("/v1/runs", params={"dataset": "api-test"}).json()["total"] == 0


def test_right_token_writes(secured: TestClient) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = secured.post("/v1/runs", json=[run_row()], headers=auth)
    assert r.json() == {"inserted": 1, "duplicates": 0, "replaced": 0, "warnings": [], "flagged": 0}
    assert secured.post("/v1/models/v0001/activate", headers=auth).status_code == 200


def test_reads_need_no_token(secured: TestClient) -> None:
    for path in ("/v1/runs", "/v1/models", "/v1/models/current", "/metrics", "/healthz", "/v1/tasks"):
        assert secured.get(path).status_code == 200, path
    assert secured.get("/v1/recommendations", params={"language": "swa", "task": "xnli"}).status_code == 200


def test_no_token_configured_means_open(client: TestClient) -> None:
    assert client.post("/v1/runs", json=[run_row()]).status_code == 200
    assert client.post("/v1/runs", json=[run_row()], headers={"Authorization": "Bearer anything"}).status_code == 200


def test_openapi_declares_bearer(ro_client: TestClient) -> None:
    spec = ro_client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert spec["paths"]["/v1/runs"]["post"]["security"] == [{"HTTPBearer": []}]
    assert "security" not in spec["paths"]["/v1/runs"]["get"]
