"""The run store: measured transfer cells in SQLite, and the reader for run files.

A run is one measured cell (DESIGN.md, "Core objects"). Files are validated whole before
anything is written; an import is one transaction, keyed so that re-importing adds nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from feature_store.errors import InvalidRequest, InvalidRun, UnknownLanguage
from feature_store.languages import resolve
from feature_store.paths import store_path

REQUIRED = ("target_task", "target_language", "source_task", "source_language", "score")
OPTIONAL = ("dataset", "model", "source_size", "metric", "baseline_score", "seed")
# Run identity written by the trainer (empty for runs from elsewhere and older files and stores).
IDENTITY = ("model_hash", "config_hash", "split")
COLUMNS = ("dataset", "model", "target_task", "target_language", "source_task", "source_language",
           "source_size", "score", "metric", "baseline_score", "seed")
EXPORT_COLUMNS = (*COLUMNS, *IDENTITY, "flags")
FILTERS = ("target_task", "target_language", "source_task", "source_language", "dataset", "model")
LANGUAGE_COLUMNS = ("target_language", "source_language")


@dataclass(frozen=True)
class Run:
    """One measured transfer cell; languages are ISO 639-3, task ids lower-case."""

    target_task: str
    target_language: str
    source_task: str
    source_language: str
    score: float
    dataset: str = ""
    model: str = ""
    source_size: float | None = None
    metric: str = ""
    baseline_score: float | None = None
    seed: int | None = None
    model_hash: str = ""  # content hash of the model folder (`model` keeps the readable name)
    config_hash: str = ""  # hash of the training configuration that produced the score
    split: str = ""  # the evaluated split: test, dev
    flags: str = ""  # comma-separated warnings, e.g. near_chance (not part of the key)

    @property
    def key(self) -> str:
        """The identity of a cell: a re-import of the same key is a duplicate.

        The identity columns join the key only when set, so runs without them keep their keys.
        """
        key: list[object] = [self.dataset, self.model, self.target_task, self.target_language,
                             self.source_task, self.source_language, self.source_size, self.seed]
        if self.model_hash or self.config_hash or self.split:
            key += [self.model_hash, self.config_hash, self.split]
        return json.dumps(key)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ImportResult:
    inserted: int
    duplicates: int


def _number(raw: object, column: str, row: int, source: str | None, *, integer: bool = False,
            required: bool = False) -> float | int | None:
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        if required:
            raise InvalidRun("missing value", row=row, column=column, value=raw, source=source)
        return None
    if isinstance(raw, bool):
        raise InvalidRun("not a number", row=row, column=column, value=raw, source=source)
    try:
        value = float(raw)  # type: ignore[arg-type]  # anything else is caught below
    except (TypeError, ValueError):
        raise InvalidRun("not a number", row=row, column=column, value=raw, source=source) from None
    if not math.isfinite(value):
        raise InvalidRun("not a finite number", row=row, column=column, value=raw, source=source)
    if integer:
        if value != int(value):
            raise InvalidRun("not an integer", row=row, column=column, value=raw, source=source)
        return int(value)
    return value


def _text(raw: object, column: str, row: int, source: str | None, *, required: bool) -> str:
    if raw is None:
        raw = ""
    if not isinstance(raw, str | int | float) or isinstance(raw, bool):
        raise InvalidRun("not a string", row=row, column=column, value=raw, source=source)
    text = str(raw).strip()
    if required and not text:
        raise InvalidRun("missing value", row=row, column=column, value=raw, source=source)
    return text


def parse_record(record: Mapping[str, Any], row: int, source: str | None = None) -> Run:
    """Validate one record (a CSV row or a JSON object) into a Run; raise InvalidRun naming the cell."""
    for column in REQUIRED:
        if column not in record:
            raise InvalidRun("missing column", row=row, column=column, source=source)
    values: dict[str, Any] = {}
    for column in ("target_task", "source_task"):
        values[column] = _text(record[column], column, row, source, required=True).lower()
    for column in LANGUAGE_COLUMNS:
        raw = _text(record[column], column, row, source, required=True)
        try:
            values[column] = resolve(raw)
        except UnknownLanguage as exc:
            hint = f"; did you mean {', '.join(exc.suggestions)}?" if exc.suggestions else ""
            raise InvalidRun(f"unknown language code{hint}", row=row, column=column, value=raw,
                             source=source) from None
    values["score"] = _number(record["score"], "score", row, source, required=True)
    values["dataset"] = _text(record.get("dataset"), "dataset", row, source, required=False)
    values["model"] = _text(record.get("model"), "model", row, source, required=False)
    values["metric"] = _text(record.get("metric"), "metric", row, source, required=False)
    for column in (*IDENTITY, "flags"):
        values[column] = _text(record.get(column), column, row, source, required=False)
    values["source_size"] = _number(record.get("source_size"), "source_size", row, source)
    values["baseline_score"] = _number(record.get("baseline_score"), "baseline_score", row, source)
    values["seed"] = _number(record.get("seed"), "seed", row, source, integer=True)
    if values["source_size"] is not None and values["source_size"] < 0:
        raise InvalidRun("must not be negative", row=row, column="source_size",
                         value=record.get("source_size"), source=source)
    return Run(**values)


def parse_records(records: Iterable[Mapping[str, Any]], source: str | None = None,
                  first_row: int = 1) -> list[Run]:
    """Validate every record before returning any: a bad one rejects the whole batch."""
    return _parse_numbered(enumerate(records, start=first_row), source)


def _parse_numbered(pairs: Iterable[tuple[int, Any]], source: str | None) -> list[Run]:
    runs = []
    for row, record in pairs:
        if not isinstance(record, Mapping):
            raise InvalidRun("not an object", row=row, value=record, source=source)
        runs.append(parse_record(record, row, source))
    if not runs:
        raise InvalidRun("no runs in input", source=source)
    return runs


def parse_csv_text(text: str, source: str | None = None) -> list[Run]:
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    for column in REQUIRED:
        if column not in header:
            raise InvalidRun("missing column", row=1, column=column, source=source)
    # Row numbers count the header as row 1, as a spreadsheet shows them.
    return parse_records(reader, source, first_row=2)


def parse_jsonl_text(text: str, source: str | None = None) -> list[Run]:
    records = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((line_no, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise InvalidRun(f"invalid JSON ({exc.msg})", row=line_no, value=line[:80],
                             source=source) from None
    return _parse_numbered(records, source)


def read_runs(path: str | Path) -> list[Run]:
    """Read and validate a CSV or JSONL run file (whole file, or an InvalidRun)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidRun("no such file", source=str(path))
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidRun("not UTF-8 text", source=str(path)) from None
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return parse_csv_text(text, path.name)
    if suffix in (".jsonl", ".ndjson"):
        return parse_jsonl_text(text, path.name)
    raise InvalidRun("unsupported file type (use .csv or .jsonl)", source=str(path), value=suffix)


def runs_to_csv(runs: Iterable[Run], out: io.TextIOBase | Any) -> int:
    """Write runs as CSV in the run schema; returns the number of rows."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    n = 0
    for run in runs:
        d = run.as_dict()
        writer.writerow(["" if d[c] is None else d[c] for c in EXPORT_COLUMNS])
        n += 1
    return n


_SCHEMA = """
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
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
"""
_FIELDS = tuple(f.name for f in fields(Run))


class RunStore:
    """SQLite run store (WAL). Thread-safe; each import is one transaction."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else store_path()
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                     timeout=30.0)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        have = {row[1] for row in self._conn.execute("PRAGMA table_info(runs)")}
        for column in (*IDENTITY, "flags"):  # stores made before these columns existed
            if column not in have:
                self._conn.execute(f"ALTER TABLE runs ADD COLUMN {column} TEXT NOT NULL DEFAULT ''")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def insert(self, runs: Sequence[Run]) -> ImportResult:
        """Insert all runs in one transaction; keys already present count as duplicates."""
        rows = [(r.key, *(getattr(r, f) for f in _FIELDS)) for r in runs]
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                before = self._conn.total_changes
                cur.executemany(
                    f"INSERT OR IGNORE INTO runs (key, {', '.join(_FIELDS)}) "
                    f"VALUES (?, {', '.join('?' for _ in _FIELDS)})", rows)
                inserted = self._conn.total_changes - before
                if inserted:
                    cur.execute("INSERT INTO meta (k, v) VALUES ('revision', '1') ON CONFLICT(k) "
                                "DO UPDATE SET v = CAST(CAST(v AS INTEGER) + 1 AS TEXT)")
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        return ImportResult(inserted=inserted, duplicates=len(rows) - inserted)

    def _where(self, filters: Mapping[str, str | None]) -> tuple[str, list[str]]:
        clauses, params = [], []
        for name, value in filters.items():
            if name not in FILTERS:
                raise InvalidRequest(f"unknown filter {name!r}; use one of {', '.join(FILTERS)}")
            if value is None or value == "":
                continue
            if name in LANGUAGE_COLUMNS:
                value = resolve(value)
            elif name.endswith("_task"):
                value = value.strip().lower()
            clauses.append(f"{name} = ?")
            params.append(value)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def query(self, *, limit: int | None = None, offset: int = 0, **filters: str | None) -> list[Run]:
        """Runs matching the filters (exact match; languages resolved), in import order."""
        return list(self.iter(limit=limit, offset=offset, **filters))

    def iter(self, *, limit: int | None = None, offset: int = 0, **filters: str | None) -> Iterator[Run]:
        where, params = self._where(filters)
        sql = f"SELECT {', '.join(_FIELDS)} FROM runs{where} ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        for row in rows:
            yield Run(*row)

    def count(self, **filters: str | None) -> int:
        where, params = self._where(filters)
        with self._lock:
            return int(self._conn.execute(f"SELECT COUNT(*) FROM runs{where}", params).fetchone()[0])

    def revision(self) -> int:
        """A counter bumped by every import that added runs; cheap, for cache invalidation."""
        with self._lock:
            row = self._conn.execute("SELECT v FROM meta WHERE k = 'revision'").fetchone()
        return int(row[0]) if row else 0

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT v FROM meta WHERE k = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._conn.execute("INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = ?",
                               (key, value, value))

    def fingerprint(self) -> str:
        """SHA-256 over every run's key and score: identifies the data a model was trained on."""
        digest = hashlib.sha256()
        with self._lock:
            for key, score in self._conn.execute("SELECT key, score FROM runs ORDER BY key"):
                digest.update(f"{key}\t{score!r}\n".encode())
        return digest.hexdigest()


def fingerprint_runs(runs: Iterable[Run]) -> str:
    """The same fingerprint as RunStore.fingerprint, for runs held in memory."""
    digest = hashlib.sha256()
    for key, score in sorted((r.key, r.score) for r in runs):
        digest.update(f"{key}\t{score!r}\n".encode())
    return digest.hexdigest()
