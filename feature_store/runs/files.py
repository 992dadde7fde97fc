"""Run files: the CSV, JSONL and JSON readers and the CSV writer.

Files are validated whole before anything is written. CSV, JSONL and JSON lists follow one set of
rules: every column is a run column (a wrong case such as ``Seed``, an unknown or a duplicated
column is refused, naming it), every value is checked (``feature_store.runs.values``: numbers finite and
in range, text valid Unicode of bounded length, task ids NFKC-normalised), and an accepted file
exported and imported again gives the same runs, whatever the entry point.
"""

from __future__ import annotations

import contextlib
import csv
import io
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from feature_store.errors import InvalidRun, UnknownLanguage
from feature_store.languages import resolve, resolve_target, script_note
from feature_store.runs.run import (
    EXPORT_COLUMNS,
    IDENTITY,
    IGNORED_COLUMNS,
    LANGUAGE_COLUMNS,
    REQUIRED,
    TASK_COLUMNS,
    Run,
    RunBatch,
)
from feature_store.runs.values import csv_field, loads_json, read_number, read_task_id, read_text


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
        values[column] = sys.intern(read_task_id(record[column], column, row, source))
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
        # interned: these repeat on every row of a file, and a large upload holds every run at once
        values[column] = sys.intern(read_text(record.get(column), column, row, source, required=False))
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
    return parse_csv_lines(io.StringIO(text, newline=""), source)


def parse_csv_lines(lines: Iterable[str], source: str | None = None) -> RunBatch:
    """A CSV run file read line by line (a file opened with ``newline=""``): only the runs are kept."""
    # Row numbers count the header as row 1, as a spreadsheet shows them.
    return _parse_numbered(_csv_records(lines, source), source, check_keys=False)


def _csv_records(lines: Iterable[str], source: str | None) -> Iterator[tuple[int, dict[str, str | None]]]:
    reader = csv.reader(lines)
    row = 1
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
            row += 1
            if len(values) > len(header):
                raise InvalidRun(f"{len(values)} values for {len(header)} columns", row=row, source=source)
            yield row, dict(zip(header, [*values, *[None] * (len(header) - len(values))], strict=True))
    except csv.Error as exc:
        raise InvalidRun(f"unreadable CSV ({exc})", row=row + 1, source=source) from None


def parse_jsonl_text(text: str, source: str | None = None) -> RunBatch:
    return parse_jsonl_lines(io.StringIO(text, newline=""), source)


def parse_jsonl_lines(lines: Iterable[str], source: str | None = None) -> RunBatch:
    """JSONL read line by line (any line end); blank lines are skipped, numbers count every line."""
    records = ((n, loads_json(line, n, source)) for n, line in enumerate(lines, start=1) if line.strip())
    return _parse_numbered(records, source)


def checked_lines(binary: IO[bytes], source: str | None = None) -> Iterator[str]:
    """The lines of an uploaded file, decoded as UTF-8 (a BOM dropped), line ends kept as they are;
    NUL (raw or JSON-escaped) is never part of a run, and the language-name index chokes on it."""
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
    n = 0
    try:
        for n, line in enumerate(text, start=1):
            if "\x00" in line or "\\u0000" in line.lower():
                raise InvalidRun("NUL character", row=n, value=line[:80], source=source)
            yield line
    except UnicodeDecodeError:
        raise InvalidRun("not UTF-8 text", row=n + 1, source=source) from None
    finally:
        with contextlib.suppress(ValueError):  # already closed by the caller, after an error
            text.detach()  # else the wrapper would close the caller's file when collected


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
