"""Property-based fuzz of the OpenAPI schema (schemathesis): no input makes the server answer 5xx.

Every operation but ``POST /v1/models`` (a retrain takes seconds; its own tests cover it, and
``bench/fuzz.py`` runs it too) gets a bounded number of generated requests, valid and invalid,
checked with schemathesis' default checks (status codes and response bodies documented in the
schema, no server errors), with auth on: requests carry the right token, and schemathesis also
checks that a wrong one gets 401. schemathesis never draws lone surrogates (they cannot be sent
as UTF-8), so a second pass puts them into the generated JSON bodies as ``\\udXXX`` escapes (valid
JSON) and into query values as the bytes they would be (``%ED%A0%80``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from api_helpers import TOKEN
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from api.app import create_app
from api.settings import Settings
from recommender.service import Service


def _bench_fuzz() -> Any:
    """``bench/fuzz.py``: the surrogate pass is built once, there, for this test and the bench."""
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "bench" / "fuzz.py"
    spec = importlib.util.spec_from_file_location("bench_fuzz", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


surrogate_request = _bench_fuzz().surrogate_request

EXAMPLES = 50
# A schema-valid run or query can still name a language nobody knows (422 with suggestions):
# the schema cannot list every language, so "valid data must be accepted" does not hold here.
EXCLUDED = [positive_data_acceptance]
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def fuzz_app(trained_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    import os
    import shutil

    path = tmp_path_factory.mktemp("fuzz") / "home"
    shutil.copytree(trained_home, path)
    old = os.environ.get("STEPSTONE_HOME")
    os.environ["STEPSTONE_HOME"] = str(path)
    try:
        # schemathesis' ASGI client names its host "testserver"
        app = create_app(Service(), Settings(api_token=TOKEN, log_requests=False, allowed_hosts="testserver"))
        yield app
    finally:
        if old is None:
            os.environ.pop("STEPSTONE_HOME", None)
        else:
            os.environ["STEPSTONE_HOME"] = old


@pytest.fixture(scope="module")
def api_schema(fuzz_app: FastAPI) -> schemathesis.schemas.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


def operations(schema: schemathesis.schemas.BaseSchema) -> list[schemathesis.schemas.APIOperation]:
    ops = [result.ok() for result in schema.get_all_operations()]
    return [op for op in ops if not (op.method.upper() == "POST" and op.path == "/v1/models")]


def test_no_server_errors(api_schema: schemathesis.schemas.BaseSchema) -> None:
    """schemathesis' pytest plugin does not load under this pytest, so each operation runs by hand."""
    ops = operations(api_schema)
    assert {op.path for op in ops} >= {"/v1/runs", "/v1/recommendations", "/v1/recommendations/batch",
                                       "/v1/models/{version}/activate", "/metrics"}
    for op in ops:
        @given(case=op.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                  derandomize=True, database=None)
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=AUTH, excluded_checks=EXCLUDED)

        check()


def test_lone_surrogates_never_make_a_5xx(api_schema: schemathesis.schemas.BaseSchema, fuzz_app: FastAPI) -> None:
    client = TestClient(fuzz_app, base_url="http://testserver", raise_server_exceptions=False)
    statuses: list[int] = []
    for op in operations(api_schema):
        @given(case=op.as_strategy())
        @settings(max_examples=EXAMPLES // 2, deadline=None, suppress_health_check=list(HealthCheck),
                  derandomize=True, database=None)
        def check(case: schemathesis.Case) -> None:
            url, body = surrogate_request(case)
            headers = {**AUTH, "content-type": "application/json"} if body is not None else AUTH
            r = client.request(case.method, url, content=body, headers=headers)
            statuses.append(r.status_code)
            assert r.status_code < 500, (case.method, url, body, r.text)

        check()
    assert len(statuses) > 100 and any(400 <= s < 500 for s in statuses)
