"""The CLI, in process; each error is `Error: …` with exit code 1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from recommender.service import Service
from stepstone.cli import app
from tests.helpers import write_csv, xstilts_rows

runner = CliRunner()


def test_recommend_table_names_language_sources_and_warnings(trained: Path) -> None:
    result = runner.invoke(app, ["recommend", "--language", "Swahili", "--task", "xnli", "--k", "3"])
    assert result.exit_code == 0, result.output
    assert "Swahili (swa)" in result.output
    assert "Which intermediate task" in result.output and "Which source language" in result.output
    assert "published per target task" in result.output
    assert "warning:" in result.output


def test_recommend_json_is_the_service_answer(trained: Path) -> None:
    result = runner.invoke(app, ["recommend", "--language", "sw", "--task", "xnli", "--k", "3", "--format",
                                 "json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == Service().recommend("sw", "xnli", k=3)


def test_errors_are_one_line_and_exit_1(trained: Path) -> None:
    result = runner.invoke(app, ["recommend", "--language", "Swahilli", "--task", "xnli"])
    assert result.exit_code == 1
    assert result.stderr.strip() == ("Error: unknown language 'Swahilli'; did you mean swa (Swahili)?")
    result = runner.invoke(app, ["recommend", "--language", "sw", "--task", "xnli", "--k", "0"])
    assert result.exit_code == 1 and "Error: k must be an integer from 1 to 50, got 0" in result.stderr


def test_runs_import_list_export_and_bad_file_leaves_store_unchanged(trained: Path, tmp_path: Path) -> None:
    good = write_csv(tmp_path / "good.csv", xstilts_rows())
    result = runner.invoke(app, ["runs", "import", str(good)])
    assert result.exit_code == 0 and "imported 16 runs (0 already in the store)" in result.output
    result = runner.invoke(app, ["runs", "import", str(good)])
    assert "imported 0 runs (16 already in the store)" in result.output

    before = Service().store.fingerprint()
    rows = xstilts_rows(languages=("fra",))
    rows[2]["score"] = "high"
    bad = write_csv(tmp_path / "bad.csv", rows)
    result = runner.invoke(app, ["runs", "import", str(bad)])
    assert result.exit_code == 1
    assert "Error: bad.csv, row 4, column 'score': not a number (value 'high')" in result.stderr
    assert Service().store.fingerprint() == before

    result = runner.invoke(app, ["runs", "list", "--dataset", "lab", "--format", "json"])
    assert json.loads(result.stdout)["total"] == 16
    out = tmp_path / "export.csv"
    result = runner.invoke(app, ["runs", "export", "--dataset", "lab", "--out", str(out)])
    assert result.exit_code == 0
    assert out.read_text().splitlines()[0].startswith("dataset,model,target_task,target_language")
    assert len(out.read_text().splitlines()) == 17
    result = runner.invoke(app, ["runs", "export", "--target-task", "xnli", "--target-language", "swa"])
    assert result.stdout.count("\n") == 1 + 15 + 4  # header, 15 source languages (self too), 4 lab runs


def test_retrain_languages_tasks(trained: Path) -> None:
    result = runner.invoke(app, ["retrain"])
    assert result.exit_code == 0 and "model v0002" in result.output
    result = runner.invoke(app, ["languages", "--format", "json"])
    assert any(row["code"] == "yor" for row in json.loads(result.stdout))
    result = runner.invoke(app, ["tasks"])
    assert "hellaswag" in result.output and "multiple-choice" in result.output and "tydiqa" in result.output


def test_cli_never_imports_torch_outside_train(trained: Path) -> None:
    code = ("import sys; from stepstone.cli import app; from typer.testing import CliRunner; "
            "r = CliRunner().invoke(app, ['recommend', '-l', 'sw', '-t', 'xnli']); "
            "assert r.exit_code == 0, r.output; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_runs_import_results_reads_a_matrix_output_folder(home: Path, tmp_path: Path) -> None:
    """`stepstone runs import-results OUT/`: every finished job's runs, once, with their baselines."""
    import json

    job = tmp_path / "out" / "jobs" / "abc123"
    job.mkdir(parents=True)
    runs = [dict(dataset="lab", model="m", target_task="xnli", target_language="swa", source_task=src,
                 source_language="eng", score=score, metric="accuracy", seed=1)
            for src, score in (("xnli", 70.0), ("mnli", 72.5))]
    (job / "result.json").write_text(json.dumps({"id": "abc123", "runs": runs}))
    first = CliRunner().invoke(app, ["runs", "import-results", str(tmp_path / "out")])
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(app, ["runs", "import-results", str(tmp_path / "out")])
    assert "imported 0 runs" in again.output
    stored = Service().store.query(dataset="lab")
    assert {r.source_task: r.baseline_score for r in stored} == {"xnli": 70.0, "mnli": 70.0}
