"""Opening the run store's SQLite file: writable when it can be, read-only when it must be.

``open_database`` checks the file (``PRAGMA quick_check``) before anything writes to it. A damaged
file stays open for whatever reads still work, with writes refused; a folder that cannot be
written (a read-only ``STEPSTONE_HOME``) opens the file read-only, or, when there is no file yet,
an empty in-memory database, so that reads (and the shipped default runs) still work.
``store_error`` turns SQLite's own failures into ``StoreUnavailable`` with a message a user can act
on: "disk full" rather than "cannot rollback - no transaction is active".
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from feature_store.errors import StoreUnavailable

TIMEOUT_S = 30.0


@dataclass
class Opened:
    conn: sqlite3.Connection
    refusal: str | None  # why writes are refused, or None
    in_memory: bool = False  # a stand-in for a file that could not be created


def kind(exc: BaseException) -> str:
    """``damaged``, ``full``, ``readonly`` or ``other`` for an sqlite3 error."""
    msg = str(exc).lower()
    if "malformed" in msg or "not a database" in msg or "corrupt" in msg:
        return "damaged"
    if "disk is full" in msg or "database or disk is full" in msg:
        return "full"
    if "readonly" in msg or "read-only" in msg or "unable to open" in msg or "permission" in msg:
        return "readonly"
    return "other"


def store_error(exc: sqlite3.Error, path: Path, action: str = "written") -> StoreUnavailable:
    """A StoreUnavailable that says what went wrong with the store at ``path``."""
    what = kind(exc)
    if what == "full":
        return StoreUnavailable(f"disk full: the run store {str(path)!r} could not be {action}; "
                                "nothing was changed")
    if what == "damaged":
        return StoreUnavailable(damaged_message(path, exc))
    if what == "readonly":
        return StoreUnavailable(f"the run store {str(path)!r} is read-only ({exc})")
    return StoreUnavailable(f"the run store {str(path)!r} could not be {action} ({exc})")


def damaged_message(path: Path, detail: object) -> str:
    return (f"the run store {str(path)!r} is damaged ({detail}); writes are refused: restore it "
            "from a backup, or move it away and import an export of your runs")


def _connect(target: str, *, uri: bool = False) -> sqlite3.Connection:
    return sqlite3.connect(target, check_same_thread=False, isolation_level=None, timeout=TIMEOUT_S,
                           uri=uri)


def _integrity(conn: sqlite3.Connection) -> str | None:
    """None when ``quick_check`` passes, else what it found first."""
    result = str(conn.execute("PRAGMA quick_check(1)").fetchone()[0])
    return None if result == "ok" else result


def open_database(path: Path, schema: str, *, readonly: bool = False) -> Opened:
    """Open (and create) the store; see the module docstring for what happens when it cannot."""
    reason = "opened read-only"
    if not readonly:
        conn = None
        try:
            conn = _connect(str(path))
            problem = _integrity(conn)
            if problem is not None:
                return Opened(conn, damaged_message(path, problem))
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(schema)
            return Opened(conn, None)
        except sqlite3.DatabaseError as exc:
            what = kind(exc)
            if what == "damaged" and conn is not None:
                return Opened(conn, damaged_message(path, exc))
            if conn is not None:
                conn.close()
            if what not in ("readonly", "full"):
                raise store_error(exc, path, "opened") from exc
            reason = (f"the run store {str(path)!r} cannot be written ({exc}): opened read-only; "
                      "make STEPSTONE_HOME writable to import runs")
    return _open_readonly(path, schema, reason)


def _open_readonly(path: Path, schema: str, reason: str) -> Opened:
    if path.is_file():
        base = f"file:{quote(str(path.resolve()))}?mode=ro"
        # A WAL database needs its -shm file; in a read-only folder without one, only an
        # immutable open can read it (no other writer can exist there anyway).
        for target in (base, base + "&immutable=1"):
            conn = _connect(target, uri=True)
            try:
                conn.execute("SELECT COUNT(*) FROM runs").fetchone()
                return Opened(conn, reason)
            except sqlite3.DatabaseError:
                conn.close()
    conn = _connect(":memory:")
    conn.executescript(schema)
    return Opened(conn, reason, in_memory=True)
