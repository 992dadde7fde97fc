"""The store's integrity rules at the edges: delete, replace, conflicts, not-languages, implausible gains."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from feature_store.errors import InvalidData
from feature_store.runs.run import Run
from recommender.model.dataset import group_queries
from recommender.service import Service
from stepstone.cli import app
from tests.helpers import write_csv

runner = CliRunner()


def _rows(score: float = 71.5) -> list[dict[str, object]]:
    return [dict(dataset="lab", model="m", target_task="xnli", target_language="swa", source_task="xnli",
                 source_language="eng", score=70.0, metric="accuracy_pct", seed=1),
            dict(dataset="lab", model="m", target_task="xnli", target_language="swa", source_task="mnli",
                 source_language="eng", score=score, metric="accuracy_pct", seed=1)]


def test_runs_delete_needs_a_filter_asks_and_bumps_the_revision(home: Path, tmp_path: Path) -> None:
    assert runner.invoke(app, ["runs", "import", str(write_csv(tmp_path / "r.csv", _rows()))]).exit_code == 0
    svc = Service()
    before = svc.store.revision()
    r = runner.invoke(app, ["runs", "delete"])
    assert r.exit_code == 1 and "Error: runs delete needs at least one filter" in r.output
    r = runner.invoke(app, ["runs", "delete", "--dataset", "lab"], input="n\n")
    assert r.exit_code == 1 and "delete 2 runs?" in r.output and svc.store.count(dataset="lab") == 2
    r = runner.invoke(app, ["runs", "delete", "--dataset", "lab", "--yes"])
    assert r.exit_code == 0 and "deleted 2 runs" in r.output
    assert svc.store.count(dataset="lab") == 0 and svc.store.revision() > before


def test_a_corrected_score_needs_replace(home: Path, tmp_path: Path) -> None:
    runner.invoke(app, ["runs", "import", str(write_csv(tmp_path / "a.csv", _rows(71.5)))])
    fixed = write_csv(tmp_path / "b.csv", _rows(72.0))
    r = runner.invoke(app, ["runs", "import", str(fixed)])
    assert r.exit_code == 1 and "71.5" in r.output and "72" in r.output
    r = runner.invoke(app, ["runs", "import", str(fixed), "--replace"])
    assert r.exit_code == 0 and "1 replaced" in r.output
    assert {run.score for run in Service().store.query(dataset="lab")} == {70.0, 72.0}


@pytest.mark.parametrize("language", ["zxx", "und", "mis", "qaa", "mul"])
def test_not_a_language_is_not_a_target(trained: Path, language: str) -> None:
    r = runner.invoke(app, ["recommend", "-l", language, "-t", "xnli"])
    assert r.exit_code == 1 and r.output.startswith("Error:")


def test_a_gain_on_the_wrong_scale_stops_a_retrain() -> None:
    runs = [Run("xnli", "swa", "xnli", "eng", 0.70, dataset="d", metric="accuracy"),
            Run("xnli", "swa", "xnli", "amh", 73.0, dataset="d", metric="accuracy"),
            Run("xnli", "swa", "xnli", "fra", 0.72, dataset="d", metric="accuracy")]
    with pytest.raises(InvalidData, match="implausible gain of 7,230.0 points"):
        group_queries(runs, scales={("d", "accuracy"): 1})


def test_delete_through_rest_is_a_guarded_write(home: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings

    runner.invoke(app, ["runs", "import", str(write_csv(tmp_path / "r.csv", _rows()))])
    settings = Settings(api_token=None, log_requests=False, retrain_in_subprocess=False)
    with TestClient(create_app(Service(), settings), client=("127.0.0.1", 5000), base_url="http://localhost") as client:
        assert client.delete("/v1/runs").status_code == 422  # no filter
        r = client.delete("/v1/runs", params={"dataset": "lab"}, headers={"Origin": "http://evil.example"})
        assert r.status_code == 403
        r = client.delete("/v1/runs", params={"dataset": "lab", "expected": 5})
        assert r.status_code == 422  # the store holds 2, not 5: nothing deleted
        assert client.delete("/v1/runs", params={"dataset": "lab", "expected": 2}).json() == {"deleted": 2}
