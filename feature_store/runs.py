"""The run store: measured transfer cells in SQLite, and the reader for run files.

A run is one measured cell (DESIGN.md, "Core objects"). Files are validated whole before
anything is written; an import is one transaction, keyed so that re-importing adds nothing.
CSV, JSONL and JSON lists follow one set of rules: every column is a run column (a wrong case
such as ``Seed``, an unknown or a duplicated column is refused, naming it), every value is checked
(``feature_store.values``: numbers finite and in range, text valid Unicode of bounded length,
task ids NFKC-normalised), and an accepted file exported and imported again gives the same runs,
whatever the entry point. Scores are checked against declared scales (``feature_store.scales``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sqlite3
import threading
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from feature_store.database import kind, open_database, store_error
from feature_store.errors import InvalidRequest, InvalidRun, StoreUnavailable, UnknownLanguage
from feature_store.languages import resolve, resolve_target, script_note
from feature_store.paths import store_path
from feature_store.scales import check_scales, metric_scale
from feature_store.values import csv_field, loads_json, normalise_task_id, read_number, read_task_id, read_text

REQUIRED = ("target_task", "target_language", "source_task", "source_language", "score")
OPTIONAL = ("dataset", "model", "source_size", "metric", "baseline_score", "seed")
# Run identity written by the trainer (empty for runs from elsewhere and older files and stores).
IDENTITY = ("model_hash", "config_hash", "split")
COLUMNS = ("dataset", "model", "target_task", "target_language", "source_task", "source_language",
           "source_size", "score", "metric", "baseline_score", "seed")
# Columns of the published matrices (shared/data/transfer) that record the paper's own language
# codes; they are part of that file schema, accepted and not stored.
IGNORED_COLUMNS = ("target_language_orig", "source_language_orig", "same_language")
# The core schema above, plus the trainer's run identity and flags: what an export writes and an
# import accepts, so that an export re-imports as it was.
EXPORT_COLUMNS = (*COLUMNS, *IDENTITY, "flags")
FILTERS = ("target_task", "target_language", "source_task", "source_language", "dataset", "model")
LANGUAGE_COLUMNS = ("target_language", "source_language")
TASK_COLUMNS = ("target_task", "source_task")


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
        """The identity of a cell: a re-import of the same key is a duplicate (or a conflict).

        The run-identity columns join the key only when set, so runs without them keep their keys.
        """
        key: list[object] = [getattr(self, f) for f in KEY_FIELDS]
        if self.model_hash or self.config_hash or self.split:
            key += [self.model_hash, self.config_hash, self.split]
        return json.dumps(key)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# The fields of Run.key, in this order (stored keys depend on it); the others are the values
# that a re-import must repeat exactly, or replace explicitly.
KEY_FIELDS = ("dataset", "model", "target_task", "target_language", "source_task", "source_language",
              "source_size", "seed")
_FIELDS = tuple(f.name for f in fields(Run))
# What a re-import of the same key must repeat (or replace explicitly); identity and flags are not values.
VALUE_FIELDS = ("score", "metric", "baseline_score")


@dataclass(frozen=True)
class ImportResult:
    """What an import did; ``warnings`` are notes the user should see (a script subtag folded)."""

    inserted: int
    duplicates: int
    replaced: int = 0
    warnings: tuple[str, ...] = ()

    def _replace_warnings(self, warnings: Iterable[str]) -> ImportResult:
        return ImportResult(self.inserted, self.duplicates, self.replaced, tuple(warnings))


class RunBatch(list[Run]):
    """Parsed runs with the row each came from, so that the store's errors can name it."""

    def __init__(self, runs: Iterable[Run] = (), rows: Iterable[int] = (), source: str | None = None,
                 warnings: Iterable[str] = ()) -> None:
        super().__init__(runs)
        self.rows = list(rows)
        self.source = source
        self.warnings = tuple(warnings)


# -- records ------------------------------------------------------------------------------------
def check_columns(names: Iterable[object], row: int | None = None, source: str | None = None) -> None:
    """Refuse a duplicated, unknown or wrongly-cased column (``Seed``), naming it."""
    seen: set[str] = set()
    known = {c.lower(): c for c in EXPORT_COLUMNS}
    for name in names:
        if not isinstance(name, str):
            raise InvalidRun("unknown column", row=row, column=repr(name), source=source)
        if name in seen:
            raise InvalidRun("duplicate column", row=row, column=name, source=source)
        seen.add(name)
        if name in EXPORT_COLUMNS or name in IGNORED_COLUMNS:
            continue
        close = known.get(name.strip().lower())
        hint = f"; did you mean {close!r}?" if close else f"; the run columns are {', '.join(EXPORT_COLUMNS)}"
        raise InvalidRun(f"unknown column{hint}", row=row, column=name, source=source)


def parse_record(record: Mapping[str, Any], row: int, source: str | None = None) -> Run:
    """Validate one record (a CSV row or a JSON object) into a Run; raise InvalidRun naming the cell.

    ``mul`` is accepted as a source language (a multilingual intermediate set) and refused as a
    target language, like every code that names no language (``zxx``, ``und``, ``mis``, ``qaa``…).
    """
    for column in REQUIRED:
        if column not in record:
            raise InvalidRun("missing column", row=row, column=column, source=source)
    values: dict[str, Any] = {}
    for column in TASK_COLUMNS:
        values[column] = read_task_id(record[column], column, row, source)
    for column in LANGUAGE_COLUMNS:
        raw = read_text(record[column], column, row, source, required=True, checked=False)
        try:
            values[column] = resolve_target(raw) if column == "target_language" else resolve(raw)
        except UnknownLanguage as exc:
            hint = f"; did you mean {', '.join(exc.suggestions)}?" if exc.suggestions else ""
            reason = getattr(exc, "reason", None)
            raise InvalidRun(f"not a language: {reason}" if reason else f"unknown language code{hint}",
                             row=row, column=column, value=raw, source=source) from None
    values["score"] = read_number(record["score"], "score", row, source, required=True)
    for column in ("dataset", "model", "metric", *IDENTITY, "flags"):
        values[column] = read_text(record.get(column), column, row, source, required=False)
    values["source_size"] = read_number(record.get("source_size"), "source_size", row, source)
    values["baseline_score"] = read_number(record.get("baseline_score"), "baseline_score", row, source)
    values["seed"] = read_number(record.get("seed"), "seed", row, source, integer=True)
    if values["source_size"] is not None and values["source_size"] < 0:
        raise InvalidRun("must not be negative", row=row, column="source_size",
                         value=record.get("source_size"), source=source)
    return Run(**values)


def parse_records(records: Iterable[Mapping[str, Any]], source: str | None = None,
                  first_row: int = 1) -> RunBatch:
    """Validate every record before returning any: a bad one rejects the whole batch."""
    return _parse_numbered(enumerate(records, start=first_row), source)


def _parse_numbered(pairs: Iterable[tuple[int, Any]], source: str | None, *,
                    check_keys: bool = True) -> RunBatch:
    runs, rows, notes = [], [], []
    for row, record in pairs:
        if not isinstance(record, Mapping):
            raise InvalidRun("not an object", row=row, value=record, source=source)
        if check_keys:
            check_columns(record.keys(), row, source)
        runs.append(parse_record(record, row, source))
        rows.append(row)
        for column in LANGUAGE_COLUMNS:
            raw = record[column]
            note = script_note(raw) if isinstance(raw, str) and "-" in raw else None
            if note and note not in notes:
                notes.append(note)
    if not runs:
        raise InvalidRun("no runs in input", source=source)
    return RunBatch(runs, rows, source, notes)


def parse_csv_text(text: str, source: str | None = None) -> RunBatch:
    """A CSV run file; any line end (LF, CRLF, CR), quoted line breaks kept as they are."""
    reader = csv.reader(io.StringIO(text, newline=""))
    records: list[dict[str, str | None]] = []
    try:
        header = next(reader, None)
        if header is None:
            raise InvalidRun("no runs in input", source=source)
        check_columns(header, 1, source)
        for column in REQUIRED:
            if column not in header:
                raise InvalidRun("missing column", row=1, column=column, source=source)
        for values in reader:
            if not values:
                continue
            if len(values) > len(header):
                raise InvalidRun(f"{len(values)} values for {len(header)} columns",
                                 row=len(records) + 2, source=source)
            records.append(dict(zip(header, [*values, *[None] * (len(header) - len(values))],
                                    strict=True)))
    except csv.Error as exc:
        raise InvalidRun(f"unreadable CSV ({exc})", row=len(records) + 2, source=source) from None
    # Row numbers count the header as row 1, as a spreadsheet shows them.
    return _parse_numbered(enumerate(records, start=2), source, check_keys=False)


def parse_jsonl_text(text: str, source: str | None = None) -> RunBatch:
    records = []
    for line_no, line in enumerate(re.split(r"\r\n|\r|\n", text), start=1):
        if line.strip():
            records.append((line_no, loads_json(line, line_no, source)))
    return _parse_numbered(records, source)


def parse_json_text(text: str, source: str | None = None) -> RunBatch:
    """A JSON list of run objects (the same rules as CSV and JSONL)."""
    data = loads_json(text, source=source)
    if not isinstance(data, list):
        raise InvalidRun("expected a JSON list of runs", value=type(data).__name__, source=source)
    return parse_records(data, source)


def read_runs(path: str | Path) -> RunBatch:
    """Read and validate a CSV, JSONL or JSON run file (whole file, or an InvalidRun)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidRun("no such file", source=str(path))
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:  # line ends as they are
            text = fh.read()
    except UnicodeDecodeError:
        raise InvalidRun("not UTF-8 text", source=str(path)) from None
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return parse_csv_text(text, path.name)
    if suffix in (".jsonl", ".ndjson"):
        return parse_jsonl_text(text, path.name)
    if suffix == ".json":
        return parse_json_text(text, path.name)
    raise InvalidRun("unsupported file type (use .csv, .jsonl or .json)", source=str(path), value=suffix)


def runs_to_csv(runs: Iterable[Run], out: io.TextIOBase | Any) -> int:
    """Write runs as CSV in the run schema; returns the number of rows.

    Any field holding a comma, quote, CR or LF is quoted (Python's csv writer leaves a lone CR
    bare, which a reader takes for a line end), so reading the file back gives the same runs.
    """
    out.write(",".join(EXPORT_COLUMNS) + "\n")
    n = 0
    for run in runs:
        d = run.as_dict()
        out.write(",".join(csv_field(d[c]) for c in EXPORT_COLUMNS) + "\n")
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
-- covers the catalogue's aggregate (RunStore.counts): 3 ms instead of 28 ms on the shipped data
CREATE INDEX IF NOT EXISTS runs_sources ON runs (target_task, source_task, source_language, source_size);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scales (
    dataset TEXT NOT NULL, metric TEXT NOT NULL, scale INTEGER NOT NULL CHECK (scale IN (1, 100)),
    PRIMARY KEY (dataset, metric)
);
"""
_BUMP = ("INSERT INTO meta (k, v) VALUES ('revision', '1') ON CONFLICT(k) "
         "DO UPDATE SET v = CAST(CAST(v AS INTEGER) + 1 AS TEXT)")
_T = TypeVar("_T")


class RunStore:
    """SQLite run store (WAL). Thread-safe; each import or delete is one transaction.

    ``writes_refused`` says why the store takes no writes (a read-only folder, a damaged file),
    or is None; reads work either way. Every write that changes runs bumps ``revision()``.
    """

    def __init__(self, path: Path | None = None, *, readonly: bool = False) -> None:
        self.path = Path(path) if path is not None else store_path()
        self._lock = threading.Lock()
        opened = open_database(self.path, _SCHEMA, readonly=readonly)
        self._conn = opened.conn
        self.writes_refused: str | None = opened.refusal
        self.in_memory = opened.in_memory
        self._cache: dict[str, tuple[int, Any]] = {}
        if self.writes_refused is None:
            have = {row[1] for row in self._conn.execute("PRAGMA table_info(runs)")}
            for column in (*IDENTITY, "flags"):  # stores made before these columns existed
                if column not in have:
                    self._conn.execute(f"ALTER TABLE runs ADD COLUMN {column} TEXT NOT NULL DEFAULT ''")
            self._declare_missing_scales()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes ---------------------------------------------------------------------------------
    def insert(self, runs: Sequence[Run], *, replace: bool = False) -> ImportResult:
        """Insert all runs in one transaction, or none.

        A run whose key is stored already is a duplicate when its values (score, metric, baseline)
        are the same, and a conflict otherwise: an ``InvalidRun`` naming both values, unless
        ``replace`` (a correction), which overwrites the stored values. Two rows of one batch with
        one key and different values are always a conflict. Scores are checked against their
        (dataset, metric)'s scale (``feature_store.scales``). ``runs`` may be a ``RunBatch``, whose
        row numbers the errors name.
        """
        rows = list(getattr(runs, "rows", None) or range(1, len(runs) + 1))
        source = getattr(runs, "source", None)
        unique, duplicates = _unique(runs, rows, source)
        return self._write(lambda cur: self._insert(cur, unique, duplicates, source, replace)
                           )._replace_warnings(getattr(runs, "warnings", ()))

    def load_defaults(self, runs: Sequence[Run], meta: Mapping[str, str]) -> ImportResult:
        """Insert the shipped runs and set ``meta`` in one transaction (``seed.ensure_seeded``).

        Unlike ``insert``, this also fills the in-memory stand-in of a store that could not be
        created (a read-only ``STEPSTONE_HOME``), so that reads answer from the shipped runs; and a
        shipped run replaces a stored one with the same key (a new seed version corrects it).
        """
        rows = list(range(1, len(runs) + 1))
        unique, duplicates = _unique(runs, rows, getattr(runs, "source", None))

        def body(cur: sqlite3.Cursor) -> ImportResult:
            result = self._insert(cur, unique, duplicates, None, True)
            cur.executemany("INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = "
                            "excluded.v", list(meta.items()))
            return result

        return self._write(body, force=self.in_memory)

    def _insert(self, cur: sqlite3.Cursor, unique: list[tuple[Run, int, str]], duplicates: int,
                source: str | None, replace: bool) -> ImportResult:
        new_scales = check_scales([r for r, _, _ in unique], self._scales(cur),
                                  [n for _, n, _ in unique], source)
        fresh: list[tuple[Run, str]] = []
        changed: list[tuple[Run, str]] = []
        select = f"SELECT {', '.join(VALUE_FIELDS)} FROM runs WHERE key = ?"
        for run, row, key in unique:
            stored = cur.execute(select, (key,)).fetchone()
            if stored is None:
                fresh.append((run, key))
                continue
            differs = _difference(dict(zip(VALUE_FIELDS, stored, strict=True)), run)
            if differs is None:
                duplicates += 1
            elif replace:
                changed.append((run, key))
            else:
                column, old, new = differs
                raise InvalidRun(f"conflicts with the stored run ({column} {old!r} stored, {new!r} "
                                 "here); import with replace to correct it", row=row, column=column,
                                 value=new, source=source)
        cur.executemany(f"INSERT INTO runs (key, {', '.join(_FIELDS)}) "
                        f"VALUES (?, {', '.join('?' for _ in _FIELDS)})",
                        [(k, *(getattr(r, f) for f in _FIELDS)) for r, k in fresh])
        cur.executemany(f"UPDATE runs SET {', '.join(f'{f} = ?' for f in VALUE_FIELDS)} WHERE key = ?",
                        [(*(getattr(r, f) for f in VALUE_FIELDS), k) for r, k in changed])
        cur.executemany("INSERT INTO scales (dataset, metric, scale) VALUES (?, ?, ?)",
                        [(d, m, scale) for (d, m), scale in new_scales.items()])
        if fresh or changed:
            cur.execute(_BUMP)
        return ImportResult(inserted=len(fresh), duplicates=duplicates, replaced=len(changed))

    def delete(self, *, expected: int | None = None, **filters: str | None) -> int:
        """Delete the runs matching the filters (the ones of ``query``); returns how many.

        At least one filter is required (deleting everything is not a filter). Call ``count`` with
        the same filters first to show what will go; pass that count as ``expected`` and the
        delete is refused if the store changed in between. Bumps the revision like an import;
        a (dataset, metric) left without runs loses its declared scale.
        """
        where, params = self._where(filters)
        if not params:
            raise InvalidRequest(f"delete needs at least one filter ({', '.join(FILTERS)})")

        def run(cur: sqlite3.Cursor) -> int:
            n = int(cur.execute(f"SELECT COUNT(*) FROM runs{where}", params).fetchone()[0])
            if expected is not None and n != expected:
                raise InvalidRequest(f"{n} runs match now, not {expected}: the store changed; "
                                     "count again")
            if n:
                pairs = cur.execute(f"SELECT DISTINCT dataset, metric FROM runs{where}", params).fetchall()
                cur.execute(f"DELETE FROM runs{where}", params)
                for pair in pairs:
                    if cur.execute("SELECT 1 FROM runs WHERE dataset = ? AND metric = ? LIMIT 1",
                                   pair).fetchone() is None:
                        cur.execute("DELETE FROM scales WHERE dataset = ? AND metric = ?", pair)
                cur.execute(_BUMP)
            return n

        return self._write(run)

    def set_meta(self, key: str, value: str) -> None:
        self._write(lambda cur: cur.execute(
            "INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = ?",
            (key, value, value)))

    def _write(self, body: Callable[[sqlite3.Cursor], _T], *, force: bool = False) -> _T:
        """Run ``body`` in one IMMEDIATE transaction; SQLite failures become StoreUnavailable."""
        with self._lock:
            if self.writes_refused is not None and not force:
                raise StoreUnavailable(self.writes_refused)
            cur = self._conn.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE")
                result = body(cur)
                cur.execute("COMMIT")
            except BaseException as exc:
                # SQLite rolls back by itself on a full disk; a second ROLLBACK would hide why.
                if self._conn.in_transaction:
                    try:
                        cur.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                if isinstance(exc, sqlite3.Error):
                    error = store_error(exc, self.path)
                    if kind(exc) == "damaged":
                        self.writes_refused = str(error)
                    raise error from exc
                raise
        return result

    def _declare_missing_scales(self) -> None:
        """Give every stored (dataset, metric) a scale (stores written before scales existed)."""
        with self._lock:
            if self._conn.execute("SELECT 1 FROM scales LIMIT 1").fetchone() is not None:
                return
            derived = _derived_scales(self._conn)
        if derived:
            self._write(lambda cur: cur.executemany(
                "INSERT OR IGNORE INTO scales (dataset, metric, scale) VALUES (?, ?, ?)",
                [(d, m, s) for (d, m), s in derived.items()]))

    # -- reads ----------------------------------------------------------------------------------
    def _read(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.DatabaseError as exc:
                raise store_error(exc, self.path, "read") from exc

    def _where(self, filters: Mapping[str, str | None]) -> tuple[str, list[str]]:
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

    def query(self, *, limit: int | None = None, offset: int = 0, **filters: str | None) -> list[Run]:
        """Runs matching the filters (exact match; languages resolved), in import order."""
        return list(self.iter(limit=limit, offset=offset, **filters))

    def iter(self, *, limit: int | None = None, offset: int = 0, **filters: str | None) -> Iterator[Run]:
        where, params = self._where(filters)
        sql = f"SELECT {', '.join(_FIELDS)} FROM runs{where} ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        for row in self._read(sql, params):
            yield Run(*row)

    def count(self, **filters: str | None) -> int:
        where, params = self._where(filters)
        return int(self._read(f"SELECT COUNT(*) FROM runs{where}", params)[0][0])

    def counts(self, *columns: str) -> list[tuple[Any, ...]]:
        """Distinct combinations of ``columns`` with their run counts: ``[(*values, count), …]``, sorted.

        One indexed aggregate in SQLite: what the catalogue and the listings need, without
        building a ``Run`` per row.
        """
        bad = [c for c in columns if c not in _FIELDS]
        if not columns or bad:
            raise InvalidRequest(f"unknown run column {bad[0] if bad else ''!r}; use any of {', '.join(_FIELDS)}")
        cols = ", ".join(columns)
        with self._lock:
            rows = self._conn.execute(f"SELECT {cols}, COUNT(*) FROM runs GROUP BY {cols} ORDER BY {cols}").fetchall()
        return [tuple(r) for r in rows]

    def revision(self) -> int:
        """A counter bumped by every write that changed runs; cheap, for cache invalidation."""
        row = self._read("SELECT v FROM meta WHERE k = 'revision'")
        return int(row[0][0]) if row else 0

    def get_meta(self, key: str) -> str | None:
        row = self._read("SELECT v FROM meta WHERE k = ?", (key,))
        return None if not row else str(row[0][0])

    def scales(self) -> dict[tuple[str, str], int]:
        """The scale (1 for 0–1, 100 for 0–100) of every stored (dataset, metric) pair."""
        with self._lock:
            try:
                return self._scales(self._conn.cursor()) or _derived_scales(self._conn)
            except sqlite3.DatabaseError as exc:
                raise store_error(exc, self.path, "read") from exc

    @staticmethod
    def _scales(cur: sqlite3.Cursor) -> dict[tuple[str, str], int]:
        try:
            rows = cur.execute("SELECT dataset, metric, scale FROM scales").fetchall()
        except sqlite3.OperationalError:  # a store from before scales, opened read-only
            return {}
        return {(d, m): int(s) for d, m, s in rows}

    def language_counts(self) -> dict[str, tuple[int, int]]:
        """``{code: (runs as target, runs as source)}``; computed once per revision."""
        def compute() -> dict[str, tuple[int, int]]:
            out: dict[str, tuple[int, int]] = {}
            for code, n in self._read("SELECT target_language, COUNT(*) FROM runs GROUP BY 1"):
                out[code] = (int(n), 0)
            for code, n in self._read("SELECT source_language, COUNT(*) FROM runs GROUP BY 1"):
                out[code] = (out.get(code, (0, 0))[0], int(n))
            return dict(sorted(out.items()))
        return self._per_revision("languages", compute)

    def task_counts(self) -> dict[str, int]:
        """``{target task id as stored: runs}``; computed once per revision."""
        return self._per_revision("tasks", lambda: {t: int(n) for t, n in self._read(
            "SELECT target_task, COUNT(*) FROM runs GROUP BY 1 ORDER BY 1")})

    def _per_revision(self, name: str, compute: Callable[[], _T]) -> _T:
        revision = self.revision()
        hit = self._cache.get(name)
        if hit is not None and hit[0] == revision:
            return hit[1]  # type: ignore[no-any-return]
        value = compute()
        self._cache[name] = (revision, value)
        return value

    def fingerprint(self) -> str:
        """SHA-256 over every run's key and score: identifies the data a model was trained on."""
        digest = hashlib.sha256()
        for key, score in self._read("SELECT key, score FROM runs ORDER BY key"):
            digest.update(f"{key}\t{score!r}\n".encode())
        return digest.hexdigest()


def _unique(runs: Sequence[Run], rows: Sequence[int],
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
        differs = _difference(seen[0].as_dict(), run)
        if differs is not None:
            column, old, new = differs
            raise InvalidRun(f"conflicts with row {seen[1]}, the same run with {column} {old!r}",
                             row=row, column=column, value=new, source=source)
        duplicates += 1
    return list(first.values()), duplicates


def _difference(stored: Mapping[str, Any], run: Run) -> tuple[str, Any, Any] | None:
    for column in VALUE_FIELDS:
        if stored[column] != getattr(run, column):
            return column, stored[column], getattr(run, column)
    return None


def _derived_scales(conn: sqlite3.Connection) -> dict[tuple[str, str], int]:
    """Scales of stored pairs as a first import would have declared them."""
    rows = conn.execute("SELECT dataset, metric, MAX(score), MAX(baseline_score) FROM runs "
                        "GROUP BY dataset, metric").fetchall()
    return {(d, m): metric_scale(m) or (1 if max(s, b if b is not None else 0.0) <= 1.0 else 100)
            for d, m, s, b in rows}


def fingerprint_runs(runs: Iterable[Run]) -> str:
    """The same fingerprint as RunStore.fingerprint, for runs held in memory."""
    digest = hashlib.sha256()
    for key, score in sorted((r.key, r.score) for r in runs):
        digest.update(f"{key}\t{score!r}\n".encode())
    return digest.hexdigest()
