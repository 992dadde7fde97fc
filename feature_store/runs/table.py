"""The runs table: its SQLite schema and the SQL helpers the store builds its statements from."""

from __future__ import annotations

import sqlite3
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from feature_store.errors import InvalidRequest, InvalidRun
from feature_store.languages import resolve
from feature_store.runs.run import FILTERS, LANGUAGE_COLUMNS, TASK_COLUMNS, VALUE_FIELDS, Run
from feature_store.runs.scales import metric_scale
from feature_store.runs.values import normalise_task_id

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    dataset TEXT NOT NULL, model TEXT NOT NULL,
    target_task TEXT NOT NULL, target_language TEXT NOT NULL,
    source_task TEXT NOT NULL, source_language TEXT NOT NULL,
    source_size REAL, score REAL NOT NULL, metric TEXT NOT NULL,
    baseline_score REAL, seed INTEGER,
    model_hash TEXT NOT NULL DEFAULT '', config_hash TEXT NOT NULL DEFAULT '',
    split TEXT NOT NULL DEFAULT '', flags TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS runs_target ON runs (target_task, target_language);
-- covers the catalogue's aggregate (RunStore.counts): 3 ms instead of 28 ms on the shipped data
CREATE INDEX IF NOT EXISTS runs_sources ON runs (target_task, source_task, source_language, source_size);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
-- keys deleted or corrected here: a later seed of the shipped runs never brings them back
CREATE TABLE IF NOT EXISTS edits (key TEXT PRIMARY KEY, kind TEXT NOT NULL CHECK (kind IN ('deleted', 'corrected')));
CREATE TABLE IF NOT EXISTS scales (
    dataset TEXT NOT NULL, metric TEXT NOT NULL, scale INTEGER NOT NULL CHECK (scale IN (1, 100)),
    PRIMARY KEY (dataset, metric)
);
"""
BUMP = ("INSERT INTO meta (k, v) VALUES ('revision', '1') ON CONFLICT(k) "
        "DO UPDATE SET v = CAST(CAST(v AS INTEGER) + 1 AS TEXT)")


# A run "ended near chance" (``recommender.model.dataset.unlearned``): its scores mean nothing.
_FAILED = "(',' || replace({t}.flags, ' ', '') || ',' GLOB '*,near_chance,*' OR " \
          "',' || replace({t}.flags, ' ', '') || ',' GLOB '*,near_chance:phase2,*')"
# The catalogue's sources: every source language of a task (same-task runs), and the intermediate
# tasks with at least one run whose gain was measured: the run did not fail, and its query has an
# English baseline run that did not fail, or carries a baseline_score and has no failed baseline
# run. An intermediate task measured without a baseline has no gain a model could stand on.
TAUGHT_SOURCES = f"""
WITH baseline AS (
    SELECT dataset, model, target_task, target_language, MIN({_FAILED.format(t='b')}) AS failed
    FROM runs b WHERE source_task = target_task AND source_language = 'eng'
    GROUP BY dataset, model, target_task, target_language)
SELECT r.target_task, r.source_task, r.source_language, r.source_size, COUNT(*) FROM runs r
LEFT JOIN baseline q ON q.dataset = r.dataset AND q.model = r.model AND q.target_task = r.target_task
    AND q.target_language = r.target_language
WHERE r.source_task = r.target_task OR (NOT {_FAILED.format(t='r')}
    AND (q.failed = 0 OR (q.failed IS NULL AND r.baseline_score IS NOT NULL)))
GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
"""


def unique_runs(runs: Sequence[Run], rows: Sequence[int],
                source: str | None) -> tuple[list[tuple[Run, int, str]], int]:
    """The batch without repeated rows (counted), refusing two rows of one key that disagree;
    each run comes with its row and its key (computed once: it is most of an import's time)."""
    first: dict[str, tuple[Run, int, str]] = {}
    duplicates = 0
    for run, row in zip(runs, rows, strict=True):
        key = run.key
        seen = first.get(key)
        if seen is None:
            first[key] = (run, row, key)
            continue
        differs = difference(seen[0].as_dict(), run)
        if differs is not None:
            column, old, new = differs
            raise InvalidRun(f"conflicts with row {seen[1]}, the same run with {column} {old!r}",
                             row=row, column=column, value=new, source=source)
        duplicates += 1
    return list(first.values()), duplicates


def difference(stored: Mapping[str, Any], run: Run) -> tuple[str, Any, Any] | None:
    """The first value (column, stored, new) in which ``run`` differs from ``stored``, or None."""
    for column in VALUE_FIELDS:
        if stored[column] != getattr(run, column):
            return column, stored[column], getattr(run, column)
    return None


def merge_flags(stored: str, given: str) -> str:
    """The stored flags with any new ones of ``given`` appended (comma-separated, no repeats)."""
    have = [f.strip() for f in stored.split(",") if f.strip()]
    have += [f for f in (g.strip() for g in given.split(",")) if f and f not in have]
    return ",".join(have)


def derived_scales(conn: sqlite3.Connection) -> dict[tuple[str, str], int]:
    """Scales of stored pairs as a first import would have declared them."""
    rows = conn.execute("SELECT dataset, metric, MAX(score), MAX(baseline_score) FROM runs "
                        "GROUP BY dataset, metric").fetchall()
    return {(d, m): metric_scale(m) or (1 if max(s, b if b is not None else 0.0) <= 1.0 else 100)
            for d, m, s, b in rows}


def where(filters: Mapping[str, str | None]) -> tuple[str, list[str]]:
    """SQL for the filters, normalised exactly as an import normalises the same columns."""
    clauses, params = [], []
    for name, value in filters.items():
        if name not in FILTERS:
            raise InvalidRequest(f"unknown filter {name!r}; use one of {', '.join(FILTERS)}")
        if value is None or value.strip() == "":
            continue
        if name in LANGUAGE_COLUMNS:
            value = resolve(value)
        elif name in TASK_COLUMNS:
            try:
                value = normalise_task_id(value)
            except ValueError:  # no stored task has such an id: the filter matches nothing
                value = unicodedata.normalize("NFKC", value).strip().lower()
        else:
            value = value.strip()
        clauses.append(f"{name} = ?")
        params.append(value)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def drop_orphan_scales(cur: sqlite3.Cursor, pairs: Iterable[tuple[str, str]]) -> None:
    """Forget the declared scale of each (dataset, metric) that no run holds any more."""
    for pair in pairs:
        if cur.execute("SELECT 1 FROM runs WHERE dataset = ? AND metric = ? LIMIT 1", pair).fetchone() is None:
            cur.execute("DELETE FROM scales WHERE dataset = ? AND metric = ?", pair)
