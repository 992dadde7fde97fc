"""The run store: measured transfer cells in SQLite (WAL), one transaction per import or delete.

An import is keyed so that re-importing adds nothing; scores are checked against declared scales
(``feature_store.runs.scales``). The table's schema and SQL helpers are in ``feature_store.runs.table``.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from feature_store.database import kind, open_database, store_error
from feature_store.errors import InvalidRequest, InvalidRun, StoreUnavailable
from feature_store.paths import store_path
from feature_store.runs.run import FILTERS, IDENTITY, RUN_FIELDS, VALUE_FIELDS, ImportResult, Run
from feature_store.runs.scales import check_metrics, check_scales
from feature_store.runs.table import (
    BUMP,
    SCHEMA,
    TAUGHT_SOURCES,
    derived_scales,
    difference,
    drop_orphan_scales,
    merge_flags,
    unique_runs,
    where,
)

_T = TypeVar("_T")


class RunStore:
    """SQLite run store (WAL). Thread-safe; each import or delete is one transaction.

    ``writes_refused`` says why the store takes no writes (a read-only folder, a damaged file),
    or is None; reads work either way. Every write that changes runs bumps ``revision()``.
    """

    def __init__(self, path: Path | None = None, *, readonly: bool = False) -> None:
        self.path = Path(path) if path is not None else store_path()
        self._lock = threading.Lock()
        opened = open_database(self.path, SCHEMA, readonly=readonly)
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
        # Reads go through a second, read-only connection: WAL lets them run while an import holds
        # the writer for seconds (a 200k-row upload), so /healthz and answers never wait for it.
        self._reader: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        if self.writes_refused is None and not self.in_memory and self.path.is_file():
            self._reader = sqlite3.connect(f"file:{quote(str(self.path.resolve()))}?mode=ro", uri=True,
                                           check_same_thread=False, isolation_level=None, timeout=30)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
        if self._reader is not None:
            with self._read_lock:
                self._reader.close()

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
        (dataset, metric)'s scale (``feature_store.runs.scales``). ``runs`` may be a ``RunBatch``, whose
        row numbers the errors name.
        """
        rows = list(getattr(runs, "rows", None) or range(1, len(runs) + 1))
        source = getattr(runs, "source", None)
        unique, duplicates = unique_runs(runs, rows, source)
        return self._write(lambda cur: self._insert(cur, unique, duplicates, source, replace)
                           )._replace_warnings(getattr(runs, "warnings", ()))

    def load_defaults(self, runs: Sequence[Run], meta: Mapping[str, str],
                      retired: Sequence[Run] = ()) -> ImportResult:
        """Insert the shipped runs and set ``meta`` in one transaction (``seed.ensure_seeded``).

        Unlike ``insert``, this also fills the in-memory stand-in of a store that could not be
        created (a read-only ``STEPSTONE_HOME``), so that reads answer from the shipped runs; and a
        shipped run replaces a stored one with the same key (a new seed version corrects it).
        A run deleted or corrected here (the ``edits`` table) is left as it is: the seed brings
        back nothing a user removed or changed; ``warnings`` says how many it left. ``retired`` runs
        (shipped by an earlier seed, no longer) are removed, but for those corrected here.
        """
        rows = list(range(1, len(runs) + 1))
        unique, duplicates = unique_runs(runs, rows, getattr(runs, "source", None))

        def body(cur: sqlite3.Cursor) -> ImportResult:
            edited = {k for (k,) in cur.execute("SELECT key FROM edits")}
            kept = [u for u in unique if u[2] not in edited]
            result = self._insert(cur, kept, duplicates, None, True, seeding=True)
            gone = self._remove_retired(cur, {r.key for r in retired} - edited - {u[2] for u in unique})
            cur.executemany("INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = "
                            "excluded.v", list(meta.items()))
            if len(kept) < len(unique):
                result = result._replace_warnings([f"{len(unique) - len(kept)} shipped runs deleted or corrected "
                                                   "in this store were left as they are"])
            if gone:
                result = result._replace_warnings([*result.warnings, f"{gone} runs of retired shipped matrices "
                                                   "were removed"])
            return result

        return self._write(body, force=self.in_memory)

    @staticmethod
    def _remove_retired(cur: sqlite3.Cursor, keys: set[str]) -> int:
        """Delete these keys' runs (no ``edits`` record: a user may import them again) and the scales
        of a (dataset, metric) left without runs; how many went."""
        pairs: set[tuple[str, str]] = set()
        gone = 0
        for key in sorted(keys):
            row = cur.execute("SELECT dataset, metric FROM runs WHERE key = ?", (key,)).fetchone()
            if row is not None:
                pairs.add(tuple(row))
                gone += cur.execute("DELETE FROM runs WHERE key = ?", (key,)).rowcount
        drop_orphan_scales(cur, pairs)
        if gone:
            cur.execute(BUMP)
        return gone

    def _insert(self, cur: sqlite3.Cursor, unique: list[tuple[Run, int, str]], duplicates: int,
                source: str | None, replace: bool, *, seeding: bool = False) -> ImportResult:
        new_scales = check_scales([r for r, _, _ in unique], self._scales(cur),
                                  [n for _, n, _ in unique], source)
        if not replace:  # a correction may change a metric the store holds
            metrics = {(d, t): m for d, t, m in cur.execute(
                "SELECT dataset, target_task, MAX(metric) FROM runs GROUP BY dataset, target_task")}
            check_metrics([r for r, _, _ in unique], metrics, [n for _, n, _ in unique], source)
        fresh: list[tuple[Run, str]] = []
        changed: list[tuple[Run, str]] = []
        flagged: list[tuple[str, str]] = []
        select = f"SELECT {', '.join(VALUE_FIELDS)}, flags FROM runs WHERE key = ?"
        for run, row, key in unique:
            stored = cur.execute(select, (key,)).fetchone()
            if stored is None:
                fresh.append((run, key))
                continue
            flags = merge_flags(stored[-1], run.flags)  # a warning once given is kept, replace or not
            if flags != stored[-1]:
                flagged.append((flags, key))
            differs = difference(dict(zip(VALUE_FIELDS, stored[:-1], strict=True)), run)
            if differs is None:
                duplicates += 1
            elif replace:
                changed.append((run, key))
            else:
                column, old, new = differs
                raise InvalidRun(f"conflicts with the stored run ({column} {old!r} stored, {new!r} "
                                 "here); import with replace to correct it", row=row, column=column,
                                 value=new, source=source)
        cur.executemany(f"INSERT INTO runs (key, {', '.join(RUN_FIELDS)}) "
                        f"VALUES (?, {', '.join('?' for _ in RUN_FIELDS)})",
                        [(k, *(getattr(r, f) for f in RUN_FIELDS)) for r, k in fresh])
        cur.executemany(f"UPDATE runs SET {', '.join(f'{f} = ?' for f in VALUE_FIELDS)} WHERE key = ?",
                        [(*(getattr(r, f) for f in VALUE_FIELDS), k) for r, k in changed])
        cur.executemany("UPDATE runs SET flags = ? WHERE key = ?", flagged)
        if not seeding:  # what a user corrects or adds back is theirs, whatever a later seed ships
            cur.executemany("INSERT OR REPLACE INTO edits (key, kind) VALUES (?, 'corrected')",
                            [(k,) for _, k in changed])
            cur.executemany("DELETE FROM edits WHERE key = ?", [(k,) for _, k in fresh])
        cur.executemany("INSERT INTO scales (dataset, metric, scale) VALUES (?, ?, ?)",
                        [(d, m, scale) for (d, m), scale in new_scales.items()])
        if fresh or changed or flagged:
            cur.execute(BUMP)
        return ImportResult(inserted=len(fresh), duplicates=duplicates, replaced=len(changed),
                            flagged=len(flagged))

    def delete(self, *, expected: int | None = None, **filters: str | None) -> int:
        """Delete the runs matching the filters (the ones of ``query``); returns how many.

        At least one filter is required (deleting everything is not a filter). Call ``count`` with
        the same filters first to show what will go; pass that count as ``expected`` and the
        delete is refused if the store changed in between. Bumps the revision like an import;
        a (dataset, metric) left without runs loses its declared scale.
        """
        clause, params = where(filters)
        if not params:
            raise InvalidRequest(f"delete needs at least one filter ({', '.join(FILTERS)})")

        def run(cur: sqlite3.Cursor) -> int:
            n = int(cur.execute(f"SELECT COUNT(*) FROM runs{clause}", params).fetchone()[0])
            if expected is not None and n != expected:
                raise InvalidRequest(f"{n} runs match now, not {expected}: the store changed; "
                                     "count again")
            if n:
                pairs = cur.execute(f"SELECT DISTINCT dataset, metric FROM runs{clause}", params).fetchall()
                cur.execute(f"INSERT OR REPLACE INTO edits (key, kind) SELECT key, 'deleted' FROM runs{clause}",
                            params)
                cur.execute(f"DELETE FROM runs{clause}", params)
                drop_orphan_scales(cur, pairs)
                cur.execute(BUMP)
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
            derived = derived_scales(self._conn)
        if derived:
            self._write(lambda cur: cur.executemany(
                "INSERT OR IGNORE INTO scales (dataset, metric, scale) VALUES (?, ?, ?)",
                [(d, m, s) for (d, m), s in derived.items()]))

    # -- reads ----------------------------------------------------------------------------------
    def _read(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        conn, lock = (self._reader, self._read_lock) if self._reader is not None else (self._conn, self._lock)
        with lock:
            try:
                return conn.execute(sql, params).fetchall()
            except sqlite3.DatabaseError as exc:
                raise store_error(exc, self.path, "read") from exc

    def query(self, *, limit: int | None = None, offset: int = 0, **filters: str | None) -> list[Run]:
        """Runs matching the filters (exact match; languages resolved), in import order."""
        return list(self.iter(limit=limit, offset=offset, **filters))

    def iter(self, *, limit: int | None = None, offset: int = 0, **filters: str | None) -> Iterator[Run]:
        clause, params = where(filters)
        sql = f"SELECT {', '.join(RUN_FIELDS)} FROM runs{clause} ORDER BY id"
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        for row in self._read(sql, params):
            yield Run(*row)

    def count(self, **filters: str | None) -> int:
        clause, params = where(filters)
        return int(self._read(f"SELECT COUNT(*) FROM runs{clause}", params)[0][0])

    def counts(self, *columns: str) -> list[tuple[Any, ...]]:
        """Distinct combinations of ``columns`` with their run counts: ``[(*values, count), …]``, sorted.

        One indexed aggregate in SQLite: what the catalogue and the listings need, without
        building a ``Run`` per row.
        """
        bad = [c for c in columns if c not in RUN_FIELDS]
        if not columns or bad:
            raise InvalidRequest(f"unknown run column {bad[0] if bad else ''!r}; use any of {', '.join(RUN_FIELDS)}")
        cols = ", ".join(columns)
        rows = self._read(f"SELECT {cols}, COUNT(*) FROM runs GROUP BY {cols} ORDER BY {cols}")
        return [tuple(r) for r in rows]

    def taught_source_counts(self) -> list[tuple[Any, ...]]:
        """``counts("target_task", "source_task", "source_language", "source_size")`` over the runs
        whose gain was measured (``run_table.TAUGHT_SOURCES``): the sources a model may answer for."""
        return [tuple(r) for r in self._read(TAUGHT_SOURCES)]

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
                return self._scales(self._conn.cursor()) or derived_scales(self._conn)
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

