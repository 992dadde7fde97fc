"""Single values of a run file: numbers, text and task ids, checked one cell at a time.

Every check raises ``InvalidRun`` naming the row, the column and the value, never a Python error:
numbers are finite (``-0.0`` is ``0.0``), seeds fit SQLite's 64-bit INTEGER, text is valid Unicode
without control characters (tab, CR and LF are kept) and at most ``MAX_TEXT`` characters, task ids
are NFKC-normalised. ``loads_json`` reads JSON without duplicate keys, whatever the input.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from typing import Any

from feature_store.errors import InvalidRun

MAX_TEXT = 256  # characters in any text value (task ids, dataset, model, metric)
MAX_NUMBER_TEXT = 64  # characters in a number written as text
SEED_RANGE = (-(2**63), 2**63 - 1)  # SQLite's INTEGER


def _finite(value: float | int, column: str, row: int, source: str | None, raw: object) -> float:
    try:
        number = float(value)
    except OverflowError:
        raise InvalidRun("not a finite number", row=row, column=column, value=raw, source=source) from None
    if not math.isfinite(number):
        raise InvalidRun("not a finite number", row=row, column=column, value=raw, source=source)
    return number + 0.0  # -0.0 is 0.0: one key, one fingerprint


def read_number(raw: object, column: str, row: int, source: str | None, *, integer: bool = False,
            required: bool = False) -> float | int | None:
    if raw is None or (isinstance(raw, str) and raw.strip() == ""):
        if required:
            raise InvalidRun("missing value", row=row, column=column, value=raw, source=source)
        return None
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise InvalidRun("not a number", row=row, column=column, value=raw, source=source)
    if isinstance(raw, str):
        text = raw.strip()
        if len(text) > MAX_NUMBER_TEXT:
            raise InvalidRun(f"not a number (longer than {MAX_NUMBER_TEXT} characters)", row=row,
                             column=column, value=raw, source=source)
        if "_" in text:  # Python reads "7_5" as 75: a typo of 7.5 must not be stored as 75.0
            raise InvalidRun("not a number", row=row, column=column, value=raw, source=source)
        if integer and re.fullmatch(r"[+-]?\d+", text):
            return _seed(int(text), column, row, source, raw)
        try:
            value: float | int = float(text)
        except ValueError:
            raise InvalidRun("not a number", row=row, column=column, value=raw, source=source) from None
    else:
        value = raw
    if integer and isinstance(value, int):
        return _seed(value, column, row, source, raw)
    number = _finite(value, column, row, source, raw)
    if integer:
        if number != int(number):
            raise InvalidRun("not an integer", row=row, column=column, value=raw, source=source)
        return _seed(int(number), column, row, source, raw)
    return number


def _seed(value: int, column: str, row: int, source: str | None, raw: object) -> int:
    low, high = SEED_RANGE
    if not low <= value <= high:
        raise InvalidRun("out of range: expected a 64-bit integer", row=row, column=column,
                         value=raw, source=source)
    return value


def _bad_char(text: str, allowed: str = "\t\r\n") -> str | None:
    """The first character that no run value may hold: controls (but ``allowed``), surrogates."""
    for ch in text:
        if ch not in allowed and unicodedata.category(ch) in ("Cc", "Cs"):
            return ch
    return None


def read_text(raw: object, column: str, row: int, source: str | None, *, required: bool,
          checked: bool = True) -> str:
    """A trimmed text value; ``checked``: refuse over-long text and control or surrogate characters
    (a language column leaves that to ``resolve``, which calls any of them an unknown language)."""
    if raw is None:
        raw = ""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise InvalidRun("not a string", row=row, column=column, value=raw, source=source)
    try:
        text = str(raw).strip()
    except ValueError:  # an int past Python's digit limit
        raise InvalidRun(f"longer than {MAX_TEXT} characters", row=row, column=column,
                         source=source) from None
    if checked and len(text) > MAX_TEXT:
        raise InvalidRun(f"longer than {MAX_TEXT} characters", row=row, column=column, value=raw,
                         source=source)
    bad = _bad_char(text) if checked else None
    if bad is not None:
        raise InvalidRun(f"invalid character U+{ord(bad):04X}", row=row, column=column, value=raw,
                         source=source)
    if required and not text:
        raise InvalidRun("missing value", row=row, column=column, value=raw, source=source)
    return text


def normalise_task_id(value: str) -> str:
    """A task id as stored and queried: NFKC (fullwidth ``ｘｎｌｉ`` is ``xnli``), trimmed, lower-case.

    Raises ValueError for a character no query could type: a control, format (zero-width),
    private-use, unassigned or surrogate character, or whitespace other than a space.
    """
    text = unicodedata.normalize("NFKC", value).strip().lower()
    for ch in text:
        if unicodedata.category(ch)[0] in "CZ" and ch != " ":
            raise ValueError(f"invalid character U+{ord(ch):04X} in a task id")
    return text


def read_task_id(raw: object, column: str, row: int, source: str | None) -> str:
    value = read_text(raw, column, row, source, required=True)
    try:
        return normalise_task_id(value)
    except ValueError as exc:
        raise InvalidRun(str(exc), row=row, column=column, value=raw, source=source) from None


class _DuplicateKey(Exception):
    pass


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def loads_json(text: str, row: int | None = None, source: str | None = None) -> Any:
    """``json.loads`` that refuses duplicate keys, and turns every failure into InvalidRun.

    Too-deep nesting and integers past Python's digit limit are an ``invalid JSON`` error too.
    """
    try:
        return json.loads(text, object_pairs_hook=_object)
    except _DuplicateKey as exc:
        raise InvalidRun("duplicate column", row=row, column=str(exc.args[0]), source=source) from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, digit limit, nesting
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise InvalidRun(f"invalid JSON ({reason})", row=row, value=text[:80], source=source) from None


def csv_field(value: object) -> str:
    text = "" if value is None else str(value)
    if any(c in text for c in ',"\r\n') or text != text.strip():
        return '"' + text.replace('"', '""') + '"'
    return text
