"""POST /v1/runs (JSON, CSV, JSONL, multipart) and GET /v1/runs."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from api_helpers import run_row
from fastapi.testclient import TestClient

CSV = ("target_task,target_language,source_task,source_language,score,dataset\n"
       "xnli,swa,xnli,deu,0.62,api-csv\nxnli,swa,xnli,rus,0.63,api-csv\n")


def count(client: TestClient) -> int:
    return int(client.get("/v1/runs", params={"limit": 1}).json()["total"])


def test_json_import_is_idempotent(client: TestClient) -> None:
    before = count(client)
    rows = [run_row(), run_row(source_language="deu", score=0.6)]
    r = client.post("/v1/runs", json=rows)
    assert r.status_code == 200 and r.json() == {"inserted": 2, "duplicates": 0, "replaced": 0, "warnings": [],
        "flagged": 0}
    assert client.post("/v1/runs", json=rows).json() == {"inserted": 0, "duplicates": 2, "replaced": 0, "warnings": [],
        "flagged": 0}
    assert count(client) == before + 2


def test_unknown_field_names_row_field_and_value(client: TestClient) -> None:
    r = client.post("/v1/runs", json=[run_row(), run_row(sorce_task="mnli")])
    assert r.status_code == 422
    body = r.json()
    assert (body["row"], body["column"], body["value"]) == (2, "sorce_task", "mnli")
    assert "unknown field" in body["detail"]


@pytest.mark.parametrize(("override", "column", "value"), [
    ({"target_language": "klingon-x"}, "target_language", "klingon-x"),
    ({"score": "high"}, "score", "high"),
    ({"seed": 1.5}, "seed", 1.5),
    ({"source_size": -3}, "source_size", -3),
    ({"target_task": ""}, "target_task", ""),
])
def test_bad_values_name_the_cell(client: TestClient, override: dict[str, object], column: str,
                                  value: object) -> None:
    r = client.post("/v1/runs", json=[run_row(), run_row(source_language="deu", **override)])
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["row"] == 2 and body["column"] == column and body["value"] == value


def test_missing_field(client: TestClient) -> None:
    row = run_row()
    del row["score"]
    body = client.post("/v1/runs", json=[row]).json()
    assert (body["row"], body["column"]) == (1, "score")


def test_all_or_nothing(client: TestClient) -> None:
    before = count(client)
    rows = [run_row(source_language=lang) for lang in ("deu", "rus", "hin")] + [run_row(score=float("nan"))]
    r = client.post("/v1/runs", content=json.dumps(rows), headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["row"] == 4
    assert count(client) == before


@pytest.mark.parametrize("body", ["{}", "[]", "[1]", "not json", '{"runs": []}'])
def test_malformed_json(client: TestClient, body: str) -> None:
    r = client.post("/v1/runs", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["detail"]


def test_csv_body(client: TestClient) -> None:
    r = client.post("/v1/runs", content=CSV, headers={"content-type": "text/csv"})
    assert r.json() == {"inserted": 2, "duplicates": 0, "replaced": 0, "warnings": [],
        "flagged": 0}
    page = client.get("/v1/runs", params={"dataset": "api-csv"}).json()
    assert page["total"] == 2 and {x["source_language"] for x in page["runs"]} == {"deu", "rus"}


def test_csv_error_counts_the_header_as_row_1(client: TestClient) -> None:
    bad = CSV + "xnli,swa,xnli,rus,lots,api-csv\n"
    body = client.post("/v1/runs", content=bad, headers={"content-type": "text/csv"}).json()
    assert (body["row"], body["column"], body["value"]) == (4, "score", "lots")


def test_jsonl_body(client: TestClient) -> None:
    text = "\n".join(json.dumps(run_row(source_language=x)) for x in ("deu", "rus")) + "\n"
    r = client.post("/v1/runs", content=text, headers={"content-type": "application/x-ndjson"})
    assert r.json() == {"inserted": 2, "duplicates": 0, "replaced": 0, "warnings": [],
        "flagged": 0}


def test_multipart_upload(client: TestClient) -> None:
    r = client.post("/v1/runs", files={"file": ("runs.csv", CSV.encode(), "text/csv")})
    assert r.json() == {"inserted": 2, "duplicates": 0, "replaced": 0, "warnings": [],
        "flagged": 0}
    text = json.dumps(run_row(source_language="hin")) + "\n"
    r = client.post("/v1/runs", files={"file": ("runs.jsonl", text.encode(), "application/octet-stream")})
    assert r.json() == {"inserted": 1, "duplicates": 0, "replaced": 0, "warnings": [], "flagged": 0}


def test_multipart_errors(client: TestClient) -> None:
    r = client.post("/v1/runs", files={"file": ("runs.xlsx", b"PK..", "application/octet-stream")})
    assert r.status_code == 422 and "unsupported file type" in r.json()["detail"]
    r = client.post("/v1/runs", files={"other": ("runs.csv", CSV.encode(), "text/csv")})
    assert r.status_code == 422 and "'file'" in r.json()["detail"]
    r = client.post("/v1/runs", files={"file": ("runs.csv", b"\xff\xfe\x00bad", "text/csv")})
    assert r.status_code == 422 and "UTF-8" in r.json()["detail"]


def test_unsupported_content_type(client: TestClient) -> None:
    assert client.post("/v1/runs", content="x", headers={"content-type": "text/plain"}).status_code == 415


def test_body_limit_by_content_length(client: TestClient) -> None:
    big = b"[" + b" " * (10 * 1024 * 1024) + b"]"
    before = count(client)
    r = client.post("/v1/runs", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "10485760" in r.json()["detail"]
    assert count(client) == before


def test_body_limit_while_streaming(make_client: Callable[..., TestClient]) -> None:
    client = make_client(max_body_bytes=2000)

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        yield CSV.encode()
        for _ in range(100):
            yield b"xnli,swa,xnli,deu,0.62,api-csv\n"

    r = client.post("/v1/runs", content=chunks(), headers={"content-type": "text/csv"})
    assert r.status_code == 413
    assert client.post("/v1/runs", content=CSV, headers={"content-type": "text/csv"}).status_code == 200


def test_list_filters_and_pages(ro_client: TestClient) -> None:
    first = ro_client.get("/v1/runs", params={"target_task": "xnli", "target_language": "Swahili",
                                               "limit": 5}).json()
    assert first["total"] > 5 and first["next_offset"] == 5 and len(first["runs"]) == 5
    assert all(r["target_language"] == "swa" and r["target_task"] == "xnli" for r in first["runs"])
    rest = ro_client.get("/v1/runs", params={"target_task": "xnli", "target_language": "swa",
                                              "limit": 1000, "offset": 5}).json()
    assert rest["next_offset"] is None and len(rest["runs"]) == first["total"] - 5
    keys = {json.dumps(r, sort_keys=True) for r in first["runs"] + rest["runs"]}
    assert len(keys) == first["total"]
    assert ro_client.get("/v1/runs", params={"model": "no-such-model"}).json()["total"] == 0


def test_list_errors(ro_client: TestClient) -> None:
    assert ro_client.get("/v1/runs", params={"limit": 0}).status_code == 422
    assert ro_client.get("/v1/runs", params={"limit": 1001}).status_code == 422
    assert ro_client.get("/v1/runs", params={"offset": -1}).status_code == 422
    r = ro_client.get("/v1/runs", params={"target_language": "notalanguage"})
    assert r.status_code == 404 and r.json()["value"] == "notalanguage"


def test_imports_beyond_the_limit_get_a_503(client: TestClient) -> None:
    uploads = client.app.state.uploads  # type: ignore[attr-defined]
    with uploads.slot(), uploads.slot():  # two imports in progress (the default limit)
        r = client.post("/v1/runs", content=CSV, headers={"content-type": "text/csv"})
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
        assert "at most 2 at once" in r.json()["detail"]
    assert client.post("/v1/runs", content=CSV, headers={"content-type": "text/csv"}).status_code == 200


def test_a_large_csv_body_is_imported_line_by_line(client: TestClient) -> None:
    languages = ["deu", "fra", "hin", "rus", "tha", "vie", "ara", "bul"]
    rows = "".join(f"xnli,{t},xnli,{s},{50 + (i % 100) / 10},big-{i // 64}\n"
                   for i in range(20_000) for t, s in [(languages[i % 8], languages[(i // 8) % 8])] if t != s)
    header = CSV.splitlines()[0] + "\n"
    r = client.post("/v1/runs", content=(header + rows).encode(), headers={"content-type": "text/csv"})
    assert r.status_code == 200, r.text
    assert r.json()["inserted"] == rows.count("\n")


def test_a_multipart_body_with_too_many_fields_is_a_422(client: TestClient) -> None:
    fields = {f"f{i}": "x" for i in range(9)}
    r = client.post("/v1/runs", data=fields, files={"file": ("runs.csv", CSV.encode(), "text/csv")})
    assert r.status_code == 422 and "unreadable multipart body" in r.json()["detail"]
