"""The run store refuses what would poison it: out-of-scale scores, silent conflicts, writes to a
read-only or damaged file; deletes are explicit; SQLite's failures read as what they are."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from feature_store import database
from feature_store.errors import InvalidRequest, InvalidRun, StoreUnavailable
from feature_store.runs.files import parse_csv_text, parse_records
from feature_store.runs.run import Run, RunBatch
from feature_store.runs.seed import ensure_seeded
from feature_store.runs.store import RunStore

ROW = dict(dataset="lab", model="m", target_task="xnli", target_language="sw", source_task="mnli",
           source_language="eng", score="71.5", metric="accuracy", baseline_score="70", seed="1")


def csv_text(*rows: dict[str, object]) -> str:
    header = list(rows[0])
    return "\n".join([",".join(header), *(",".join(str(r[c]) for c in header) for r in rows)]) + "\n"


def batch(*changes: dict[str, object]) -> RunBatch:
    return parse_csv_text(csv_text(*({**ROW, **c} for c in changes)), "r.csv")


# -- 1. scales ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("change", "message"), [
    ({"score": "1e300"}, "r.csv, row 3, column 'score': out of range: expected 0–100 for metric "
                         "'accuracy' of dataset 'lab' (value 1e+300)"),
    ({"baseline_score": "-3"}, "r.csv, row 3, column 'baseline_score': out of range: expected 0–100"),
    ({"score": "0.70"}, "r.csv, row 3, column 'score': mixes scales: a 0–1 value among 0–100 scores"),
])
def test_out_of_range_and_mixed_scores_are_refused(home: Path, change: dict[str, object], message: str) -> None:
    store = RunStore()
    with pytest.raises(InvalidRun) as err:
        store.insert(batch({}, {"target_language": "yor", **change}))
    assert str(err.value).startswith(message)
    assert store.count() == 0


def test_a_0_100_score_in_a_0_1_dataset_is_refused(home: Path) -> None:
    store = RunStore()
    ensure_seeded(store)
    bad = dict(dataset="langrankplus:xnli_xlm-r", model="xlm-r", target_task="xnli", target_language="swa",
               source_task="xnli", source_language="amh", score="73.0", metric="f1_score_0-1")
    before = store.fingerprint()
    with pytest.raises(InvalidRun, match=r"row 2, column 'score': out of range: expected 0–1 for metric "
                                         r"'f1_score_0-1' of dataset 'langrankplus:xnli_xlm-r' \(value 73.0\)"):
        store.insert(parse_csv_text(csv_text(bad)))
    assert store.fingerprint() == before


def test_first_import_declares_the_scale_then_it_is_enforced(home: Path) -> None:
    store = RunStore()
    store.insert(batch({"score": "0.7", "baseline_score": "0.69"}))
    assert store.scales() == {("lab", "accuracy"): 1}
    with pytest.raises(InvalidRun, match="expected 0–1"):
        store.insert(batch({"target_language": "yor", "score": "71.5", "baseline_score": ""}))
    # A metric that names its scale states it, whatever the first values were.
    store.insert(batch({"metric": "accuracy_pct", "target_language": "deu", "score": "0.5", "baseline_score": ""}))
    assert store.scales()[("lab", "accuracy_pct")] == 100


def test_seeded_scales_follow_the_metric_names(home: Path) -> None:
    store = RunStore()
    ensure_seeded(store)
    scales = store.scales()
    assert scales[("langrankplus:xnli_xlm-r", "f1_score_0-1")] == 1
    assert scales[("langrankplus:xquad_xlm-r", "f1_score_0-100")] == 100
    assert scales[("devries2022_xpos:udpos-ft-10000", "accuracy_pct")] == 100


def test_a_store_from_before_scales_gets_them_at_open(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    RunStore(path).insert(batch({}, {"dataset": "tiny", "score": "0.5", "baseline_score": "0.4"}))
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE scales")
    conn.commit()
    conn.close()
    assert RunStore(path).scales() == {("lab", "accuracy"): 100, ("tiny", "accuracy"): 1}


# -- 2. conflicts -------------------------------------------------------------------------------
def test_a_conflicting_score_is_an_error_naming_both_values(home: Path) -> None:
    store = RunStore()
    store.insert(batch({}))
    revision = store.revision()
    with pytest.raises(InvalidRun, match=r"row 2, column 'score': conflicts with the stored run "
                                         r"\(score 71.5 stored, 72.0 here\); import with replace"):
        store.insert(batch({"score": "72.0"}))
    assert [r.score for r in store.query()] == [71.5]
    result = store.insert(batch({"score": "72.0"}), replace=True)
    assert (result.inserted, result.duplicates, result.replaced) == (0, 0, 1)
    assert [r.score for r in store.query()] == [72.0]
    assert store.revision() == revision + 1


def test_conflicting_rows_inside_one_file_are_an_error(home: Path) -> None:
    store = RunStore()
    with pytest.raises(InvalidRun, match=r"row 3, column 'score': conflicts with row 2, the same run "
                                         r"with score 71.5 \(value 73.0\)"):
        store.insert(batch({}, {"score": "73.0"}), replace=True)
    result = store.insert(batch({}, {}))
    assert (result.inserted, result.duplicates) == (1, 1)


def test_runs_built_in_code_are_checked_too(home: Path) -> None:
    store = RunStore()
    with pytest.raises(InvalidRun, match="row 1, column 'score': out of range"):
        store.insert([Run("xnli", "swa", "mnli", "eng", 1e300, dataset="lab", metric="accuracy")])


# -- 4. deletes ---------------------------------------------------------------------------------
def test_delete_needs_a_filter_and_bumps_the_revision(home: Path) -> None:
    store = RunStore()
    store.insert(batch({}, {"target_language": "yor"}, {"dataset": "other", "target_language": "deu"}))
    for filters in ({}, {"dataset": ""}, {"dataset": "  "}):
        with pytest.raises(InvalidRequest, match="delete needs at least one filter"):
            store.delete(**filters)
    with pytest.raises(InvalidRequest, match="unknown filter 'score'"):
        store.delete(score="1")
    revision = store.revision()
    assert store.count(target_language="Swahili") == 1
    with pytest.raises(InvalidRequest, match="1 runs match now, not 5"):
        store.delete(expected=5, target_language="Swahili")
    assert store.delete(expected=1, target_language="Swahili") == 1
    assert store.revision() == revision + 1
    assert store.delete(target_language="Swahili") == 0
    assert store.revision() == revision + 1
    assert store.delete(dataset="other") == 1
    assert store.scales() == {("lab", "accuracy"): 100}  # 'other' lost its runs and its scale
    assert store.count() == 1


# -- 11. listings -------------------------------------------------------------------------------
def test_language_and_task_counts_are_computed_once_per_revision(home: Path) -> None:
    store = RunStore()
    store.insert(batch({}, {"target_language": "yor"}, {"target_language": "yor", "source_language": "swa"}))
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    assert store.language_counts() == {"eng": (0, 2), "swa": (1, 1), "yor": (2, 0)}
    assert store.task_counts() == {"xnli": 3}
    scans = sum("GROUP BY" in s for s in statements)
    for _ in range(5):
        store.language_counts()
        store.task_counts()
    assert sum("GROUP BY" in s for s in statements) == scans
    store.insert(batch({"target_language": "deu"}))
    assert store.language_counts()["deu"] == (1, 0)


# -- 12. the state folder -----------------------------------------------------------------------
def test_a_read_only_store_answers_reads_and_refuses_writes(home: Path) -> None:
    store = RunStore()
    store.insert(batch({}))
    store.close()
    ro = RunStore(readonly=True)
    assert ro.count() == 1 and ro.writes_refused
    with pytest.raises(StoreUnavailable, match="read-only"):
        ro.insert(batch({"target_language": "yor"}))
    with pytest.raises(StoreUnavailable):
        ro.delete(dataset="lab")


def _unwritable_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    """What SQLite says when the folder cannot be written (root ignores chmod, so fake it)."""
    real = database._connect

    def connect(target: str, *, uri: bool = False) -> sqlite3.Connection:
        if not uri and target != ":memory:":
            raise sqlite3.OperationalError("unable to open database file")
        return real(target, uri=uri)

    monkeypatch.setattr(database, "_connect", connect)


def test_an_unwritable_home_opens_the_existing_store_read_only(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    RunStore().insert(batch({}))
    _unwritable_folder(monkeypatch)
    store = RunStore()
    assert not store.in_memory
    assert store.count() == 1
    assert "make STEPSTONE_HOME writable" in (store.writes_refused or "")
    with pytest.raises(StoreUnavailable, match="cannot be written"):
        store.insert(batch({"target_language": "yor"}))


def test_an_unwritable_empty_home_still_answers_from_the_shipped_runs(
        home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    _unwritable_folder(monkeypatch)
    store = RunStore()
    assert store.in_memory
    assert ensure_seeded(store) is not None
    assert store.count() > 7000
    assert "kept in memory" in caplog.text
    with pytest.raises(StoreUnavailable):
        store.insert(batch({}))
    assert not (home / "runs.sqlite").exists()


@pytest.mark.skipif(not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() == 0,
                    reason="root writes through chmod")
def test_a_chmod_read_only_home_still_reads(home: Path) -> None:
    RunStore().insert(batch({}))
    home.chmod(0o555)
    try:
        store = RunStore()
        assert store.count() == 1 and store.writes_refused
    finally:
        home.chmod(0o755)


def _damage(path: Path) -> None:
    conn = sqlite3.connect(path)
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    with open(path, "r+b") as fh:  # the runs table's root page and the index pages after it
        fh.seek(page)
        fh.write(b"\xff" * page * 3)


def test_a_damaged_store_refuses_writes_at_open(home: Path) -> None:
    store = RunStore()
    store.insert(batch(*({"target_language": lang} for lang in ("sw", "yor", "deu", "hin", "fra"))))
    store.close()
    _damage(home / "runs.sqlite")
    damaged = RunStore()
    assert "is damaged" in (damaged.writes_refused or "")
    with pytest.raises(StoreUnavailable, match="is damaged"):
        damaged.insert(batch({"target_language": "ita"}))


def test_a_file_that_is_not_a_database_is_refused_clearly(home: Path) -> None:
    (home / "runs.sqlite").write_bytes(b"not a database, just some bytes" * 200)
    store = RunStore()
    assert "is damaged" in (store.writes_refused or "")
    with pytest.raises(StoreUnavailable, match="is damaged"):
        store.insert(batch({}))
    with pytest.raises(StoreUnavailable, match="is damaged"):
        store.count()


def test_a_full_disk_is_reported_as_disk_full_and_leaves_the_store_as_it_was(home: Path) -> None:
    store = RunStore()
    store.insert(batch({}))
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages + 2}")
    big = parse_records([{**ROW, "target_language": "yor", "seed": i, "model": "m" * 200}
                         for i in range(2000)])
    with pytest.raises(StoreUnavailable, match="^disk full: the run store .* could not be written; "
                                               "nothing was changed$"):
        store.insert(big)
    assert store.count() == 1
    store.insert(batch({"target_language": "deu"}))  # still usable
    assert store.count() == 2


def test_runs_held_in_memory_get_the_scales_an_import_would_declare(home: Path) -> None:
    from feature_store.runs.scales import declared_scales, metric_scale

    runs = [Run("xnli", "swa", "mnli", "eng", 0.7, dataset="a", metric="accuracy"),
            Run("xnli", "swa", "mnli", "eng", 71.5, dataset="b", metric="accuracy"),
            Run("xnli", "swa", "mnli", "eng", 0.5, dataset="c", metric="f1_0-100")]
    assert declared_scales(runs) == {("a", "accuracy"): 1, ("b", "accuracy"): 100, ("c", "f1_0-100"): 100}
    assert declared_scales(runs, {("a", "accuracy"): 100})[("a", "accuracy")] == 100
    assert [metric_scale(m) for m in ("f1_score_0-1", "f1_score_0-100", "accuracy_pct", "bleu")] == [1, 100, 100, None]
    store = RunStore()
    store.insert(runs[:2])
    assert store.scales() == {k: v for k, v in declared_scales(runs).items() if k[0] != "c"}
