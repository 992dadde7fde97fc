"""``stepstone recommend --language L --task T [--k K] [--candidates C] --format json`` from the answer table.

The command line is read by hand (only the forms above, each option once, ``--opt value`` or
``--opt=value``); the live version from the registry's ``current`` pointer, the store's revision
from a read-only SQLite connection; the answer from the table of that version and revision
(``recommender.answers.table``), printed exactly as the full command prints it (indented JSON). When
anything is not as expected — another option, a name the table does not know, no table, no pointer —
``answer`` returns False and the full CLI takes the command line.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Sequence

from feature_store.paths import home, store_path
from recommender.answers.table import CANDIDATES, MAX_K, AnswerTable, current_version, table_path

_OPTIONS = {"--language": "language", "-l": "language", "--task": "task", "-t": "task", "--k": "k",
            "--candidates": "candidates", "--format": "format"}


def parse(argv: Sequence[str]) -> tuple[str, str, int, str] | None:
    """(language, task, k, candidates) of a plain ``recommend … --format json``; None for anything else."""
    if not argv or argv[0] != "recommend":
        return None
    opts: dict[str, str] = {}
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--") and "=" in arg:
            name, value = arg.split("=", 1)
            i += 1
        elif i + 1 < len(argv):
            name, value = arg, argv[i + 1]
            i += 2
        else:
            return None
        key = _OPTIONS.get(name)
        if key is None or key in opts or value.startswith("-"):
            return None
        opts[key] = value
    k, candidates = opts.get("k", "3"), opts.get("candidates", "all")
    if opts.get("format") != "json" or not opts.get("language") or not opts.get("task"):
        return None
    if not (k.isdigit() and k == str(int(k)) and 1 <= int(k) <= MAX_K) or candidates not in CANDIDATES:
        return None
    return opts["language"], opts["task"], int(k), candidates


def revision() -> int | None:
    path = store_path()
    if not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)
        try:
            row = conn.execute("SELECT v FROM meta WHERE k = 'revision'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return int(row[0]) if row else 0


def answer(argv: Sequence[str]) -> bool:
    """Print the answer and return True, or return False (nothing printed) for the full CLI to answer."""
    query = parse(argv)
    if query is None:
        return False
    root = home()
    version, rev = current_version(root), revision()
    if version is None or rev is None:
        return False
    language, task, k, candidates = query
    try:
        table = AnswerTable(table_path(root / "answers", version, rev))
    except (OSError, ValueError, KeyError, TypeError):
        return False
    try:
        code, task_id = table.language(language), table.task(task)
        body = table.body(task_id, code, k, candidates) if code and task_id else None
        if body is None or table.version != version or table.revision != rev:
            return False
        sys.stdout.write(json.dumps(json.loads(body), indent=2, ensure_ascii=False) + "\n")
    finally:
        table.close()
    return True


__all__ = ["answer", "parse"]
