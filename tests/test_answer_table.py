"""The answer table gives the answers of the reference path, through the Service, REST and the CLI.

A table is built for a sample of (task, language) pairs of the shipped store (every pair takes
seconds; the sample covers tasks with and without intermediate runs, measured and unmeasured cells),
and each of its answers is compared with ``Service(use_table=False)``, which computes every answer.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from recommender.service import Service
from stepstone.cli import main

VARIANTS = [(1, "all"), (3, "all"), (50, "all"), (3, "intermediate"), (10, "language"), (50, "intermediate")]
ALWAYS = [("xnli", "swa"), ("udpos", "yor"), ("tydiqa", "tel"), ("sib200", "hau")]


@pytest.fixture
def tabled(trained: Path) -> tuple[Service, list[tuple[str, str]]]:
    svc = Service()
    every = svc.table_queries()
    sample = [q for q in ALWAYS if q in every] + random.Random(0).sample(every, 24)
    assert svc.prepare_answers(queries=sample) is not None
    return svc, sample


def test_answers_equal_the_reference_path(tabled: tuple[Service, list[tuple[str, str]]]) -> None:
    svc, sample = tabled
    ref = Service(use_table=False)
    for task, code in sample:
        for k, candidates in VARIANTS:
            body = svc.table_body(code, task, k, candidates)
            assert body is not None, (task, code)  # answered by the table, not computed
            expected = ref.recommend(code, task, k=k, candidates=candidates).as_dict()
            assert json.loads(body) == expected, (task, code, k, candidates)
            assert svc.recommend(code, task, k=k, candidates=candidates).as_dict() == expected


def test_names_resolve_as_the_library_does(tabled: tuple[Service, list[tuple[str, str]]]) -> None:
    svc, _ = tabled
    body = svc.table_body("swa", "xnli", 3, "all")
    for name in ("Swahili", "swahili", " sw ", "SWA", "swh"):
        assert svc.table_body(name, "XNLI", 3, "all") == body
    assert svc.table_body("sw-KE", "xnli", 3, "all") == body  # not in the alias map: resolved, then read


def test_an_import_retires_the_table(tabled: tuple[Service, list[tuple[str, str]]]) -> None:
    from feature_store.runs.run import Run

    svc, _ = tabled
    before = svc.recommend("swa", "xnli", k=50, candidates="language").as_dict()
    assert "nav" not in {x["source_language"] for x in before["decisions"]["language"]["recommendations"]}
    svc.import_runs([Run("xnli", "swa", "xnli", "nav", 0.3, dataset="table-test", model="xlm-r")])
    assert svc.table_body("swa", "xnli", 3, "all") is None  # the table is of the old revision
    after = svc.recommend("swa", "xnli", k=50, candidates="language").as_dict()
    assert "nav" in {x["source_language"] for x in after["decisions"]["language"]["recommendations"]}


def test_rest_serves_the_table(tabled: tuple[Service, list[tuple[str, str]]]) -> None:
    from api.app import create_app
    from api.settings import Settings

    svc, _ = tabled
    ref = Service(use_table=False)
    with TestClient(create_app(svc, Settings(cache_entries=0)), base_url="http://localhost") as client:
        r = client.get("/v1/recommendations", params={"language": "Swahili", "task": "xnli", "k": 5})
        assert r.status_code == 200
        assert r.json() == ref.recommend("swa", "xnli", k=5).as_dict()
        assert client.app.state.cache.stats()["table"] == 1  # type: ignore[attr-defined]
        r = client.get("/v1/recommendations", params={"language": "swa", "task": "xnli", "model": "xlm"})
        assert r.status_code == 200  # a model filter: computed, and the same answer as the library's
        assert r.json() == ref.recommend("swa", "xnli", model="xlm").as_dict()
        r = client.get("/v1/recommendations", params={"language": "Klingonx", "task": "xnli"})
        assert r.status_code == 404 and r.json()["value"] == "Klingonx"
        assert client.get("/v1/recommendations", params={"language": "swa", "task": "xnli", "k": "03"}).json() == \
            client.get("/v1/recommendations", params={"language": "swa", "task": "xnli", "k": 3}).json()


def test_cli_json_from_the_table_is_the_full_cli_output(tabled: tuple[Service, list[tuple[str, str]]],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    svc, _ = tabled
    args = ["recommend", "-l", "Swahili", "--task=xnli", "--k", "4", "--format", "json"]
    assert main(args) == 0
    fast = capsys.readouterr().out
    assert main([*args, "--candidates", "all", "--model", ""]) == 0  # not a plain query: the full CLI
    assert capsys.readouterr().out == fast
    code = ("import sys; from stepstone.cli import main; rc = main(sys.argv[1:]); "
            "heavy = ('lightgbm', 'scipy', 'typer', 'rich', 'langcodes', 'numpy', 'pydantic'); "
            "print([m for m in heavy if m in sys.modules], file=sys.stderr); sys.exit(rc)")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == fast
    assert proc.stderr.strip() == "[]"
    assert json.loads(fast) == Service(use_table=False).recommend("swa", "xnli", k=4).as_dict()


def test_serve_names_the_app_factory() -> None:
    """``stepstone serve --workers N`` hands uvicorn an import string instead of importing the app."""
    import importlib

    from api.server import APP_FACTORY

    module, name = APP_FACTORY.split(":")
    assert getattr(importlib.import_module(module), name).__name__ == "create_app"


def test_a_damaged_table_is_not_used(tabled: tuple[Service, list[tuple[str, str]]]) -> None:
    from recommender.answers.table import AnswerTable

    svc, sample = tabled
    task, code = sample[0]
    assert svc.table_body(code, task, 3, "all") is not None
    path = next(svc.answers_dir().glob("*.table"))
    table = AnswerTable(path)
    offset = table._base + table._index[f"{task} {code}"][0]  # the record's meta: "<length>\n{...}"
    table.close()
    data = bytearray(path.read_bytes())
    meta = data.index(b"\n", offset) + 1
    data[meta:meta + 8] = b"garbage!"
    path.write_bytes(bytes(data))
    fresh = Service()
    assert fresh.table_body(code, task, 3, "all") is None  # that record is skipped...
    assert fresh.recommend(code, task).as_dict() == Service(use_table=False).recommend(code, task).as_dict()
    task2, code2 = sample[1]
    assert fresh.table_body(code2, task2, 3, "all") is not None  # ...the others are read
