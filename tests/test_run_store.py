"""The run store and the run-file reader."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import pytest

from feature_store.errors import InvalidRequest, InvalidRun
from feature_store.runs.files import read_runs, runs_to_csv
from feature_store.runs.run import Run
from feature_store.runs.store import RunStore
from tests.helpers import write_csv

ROW = dict(dataset="d", model="m", target_task="XNLI", target_language="sw", source_task="mnli",
           source_language="English", score="71.5", metric="accuracy", baseline_score="70", seed="1")


def test_reads_csv_and_normalises_codes_and_tasks(tmp_path: Path) -> None:
    runs = read_runs(write_csv(tmp_path / "r.csv", [ROW]))
    assert runs == [Run("xnli", "swa", "mnli", "eng", 71.5, "d", "m", None, "accuracy", 70.0, 1)]


def test_reads_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({**ROW, "score": 71.5}) + "\n\n" + json.dumps(ROW) + "\n")
    assert [r.score for r in read_runs(path)] == [71.5, 71.5]


@pytest.mark.parametrize(("change", "message"), [
    ({"score": "n/a"}, "r.csv, row 3, column 'score': not a number (value 'n/a')"),
    ({"target_language": "xq"}, "r.csv, row 3, column 'target_language': unknown language code"),
    ({"source_task": ""}, "r.csv, row 3, column 'source_task': missing value"),
    ({"seed": "1.5"}, "r.csv, row 3, column 'seed': not an integer (value '1.5')"),
    ({"score": "inf"}, "r.csv, row 3, column 'score': not a finite number (value 'inf')"),
])
def test_bad_row_rejects_whole_file_naming_row_column_value(tmp_path: Path, home: Path,
                                                            change: dict[str, str], message: str) -> None:
    path = write_csv(tmp_path / "r.csv", [ROW, {**ROW, **change}])
    store = RunStore()
    with pytest.raises(InvalidRun) as err:
        store.insert(read_runs(path))
    assert str(err.value).startswith(message)
    assert store.count() == 0


def test_missing_column_is_named(tmp_path: Path) -> None:
    row = {k: v for k, v in ROW.items() if k != "score"}
    with pytest.raises(InvalidRun, match="row 1, column 'score': missing column"):
        read_runs(write_csv(tmp_path / "r.csv", [row]))


def test_unsupported_file_type(tmp_path: Path) -> None:
    path = tmp_path / "r.xlsx"
    path.write_text("x")
    with pytest.raises(InvalidRun, match="unsupported file type"):
        read_runs(path)


def test_import_is_idempotent_and_counts_duplicates(tmp_path: Path, home: Path) -> None:
    path = write_csv(tmp_path / "r.csv", [ROW, {**ROW, "target_language": "yor"}])
    store = RunStore()
    first = store.insert(read_runs(path))
    second = store.insert(read_runs(path))
    assert (first.inserted, first.duplicates) == (2, 0)
    assert (second.inserted, second.duplicates) == (0, 2)
    assert store.count() == 2


def test_store_uses_wal_and_lives_in_stepstone_home(home: Path) -> None:
    RunStore().close()
    conn = sqlite3.connect(home / "runs.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_filters_resolve_languages_and_reject_unknown_names(tmp_path: Path, home: Path) -> None:
    store = RunStore()
    store.insert(read_runs(write_csv(tmp_path / "r.csv", [ROW, {**ROW, "target_language": "yor"}])))
    assert [r.target_language for r in store.query(target_language="Swahili")] == ["swa"]
    assert store.count(target_task="XNLI") == 2
    with pytest.raises(InvalidRequest, match="unknown filter 'score'"):
        store.query(score="1")


def test_export_round_trips_through_import(tmp_path: Path, home: Path) -> None:
    store = RunStore()
    store.insert(read_runs(write_csv(tmp_path / "r.csv", [ROW, {**ROW, "seed": ""}])))
    buf = io.StringIO()
    assert runs_to_csv(store.iter(), buf) == 2
    out = tmp_path / "out.csv"
    out.write_text(buf.getvalue())
    other = RunStore(tmp_path / "other.sqlite")
    other.insert(read_runs(out))
    assert other.fingerprint() == store.fingerprint()


@pytest.mark.parametrize("bad", ["sw\x00", "\x00", "\udcff", "x" * 500])
def test_control_characters_in_codes_are_an_unknown_language_not_a_crash(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({**ROW, "target_language": bad}) + "\n")
    with pytest.raises(InvalidRun, match="row 1, column 'target_language': unknown language code"):
        read_runs(path)
