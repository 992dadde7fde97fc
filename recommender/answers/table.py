"""The answer table: every answer that does not depend on the request, computed once per (model version,
store revision) and read by every server worker and the CLI.

An answer is a pure function of the live model, the store and the query (target task, target
language, ``k``, ``candidates``). For each (task, language) of the table the Service computes the
answer once, with every item up to ``MAX_K`` per decision, through the same ``rank_query`` a request
uses (``recommender.precompute``); ``k`` only cuts the item lists (item ``i`` has rank ``i`` whatever
``k`` is, and its reasons do not depend on the other items shown) and ``candidates`` only empties the
other decision and drops the warnings that belong to it. So a request is a lookup, a slice and a
join of bytes.

One file per (version, revision), ``$STEPSTONE_HOME/answers/<version>-r<revision>.table``::

    stepstone-answers <FORMAT>\\n  <header length>\\n  <header JSON>  <records>

The header holds the version and revision it was built for, the name/alias → code maps for the
languages and tasks it covers (so resolving ``Swahili`` or ``sw`` needs no ``langcodes``) and an
index ``"task code" → [offset, length]``. A record is ``<meta length>\\n<meta JSON><blob>``: the blob
holds the compact JSON pieces of the answer, the meta their places — per ``candidates`` value a
template (literal pieces, the ``K`` slot and one item slot per decision) and per decision the end
of each serialised item (items sit back to back with their commas, so the first ``k`` are one slice).

This module imports the standard library only: the CLI's fast path reads it without numpy,
LightGBM, pydantic or langcodes.
"""

from __future__ import annotations

import json
import mmap
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

FORMAT = 1
MAGIC = b"stepstone-answers %d\n" % FORMAT
KINDS = ("intermediate", "language")
CANDIDATES = ("all", "intermediate", "language")
MAX_K = 50
SLOT_K = "K"
_MARK = "\ue000"  # a private-use character: never in an answer's text
_SLOT = re.compile('"' + _MARK + "([^" + _MARK + "]+)" + _MARK + '"')
_VERSION = re.compile(r"^v\d{4,}$")


def table_path(folder: Path, version: str, revision: int) -> Path:
    return folder / f"{version}-r{revision}.table"


def slot(name: str) -> str:
    """A placeholder that ``template`` turns into a slot (``K``, or a decision's items: ``I:<kind>``)."""
    return f"{_MARK}{name}{_MARK}"


def compact(data: Any) -> str:
    """JSON as the REST API writes it (FastAPI's ``JSONResponse``): compact, UTF-8, no NaN."""
    return json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def template(answer: Mapping[str, Any]) -> list[str]:
    """``answer`` (slots in place of ``query.k`` and each decision's ``recommendations``) as JSON cut
    at the slots: literal, slot name, literal, …, literal (an item slot's brackets stay literal)."""
    parts = _SLOT.split(compact(answer))
    for i in range(1, len(parts), 2):
        if parts[i] != SLOT_K:
            parts[i - 1] += "["
            parts[i + 1] = "]" + parts[i + 1]
    return parts


# -- writing --------------------------------------------------------------------------------------
class Record:
    """The pieces of one (task, language): three templates and the serialised items of each decision."""

    def __init__(self) -> None:
        self.blob = bytearray()
        self.meta: dict[str, Any] = {"t": {}, "i": {}}

    def _put(self, text: str) -> list[int]:
        data = text.encode()
        start = len(self.blob)
        self.blob += data
        return [start, len(data)]

    def add_template(self, candidates: str, parts: list[str]) -> None:
        self.meta["t"][candidates] = [self._put(p) if i % 2 == 0 else p for i, p in enumerate(parts)]

    def add_items(self, kind: str, items: Iterable[Mapping[str, Any]]) -> None:
        start, ends = len(self.blob), []
        for n, item in enumerate(items):
            self.blob += (("," if n else "") + compact(item)).encode()
            ends.append(len(self.blob))
        self.meta["i"][kind] = [start, ends]

    def encode(self) -> bytes:
        meta = compact(self.meta).encode()
        return b"%d\n" % len(meta) + meta + bytes(self.blob)


def write_table(path: Path, header: Mapping[str, Any], records: Mapping[tuple[str, str], Record]) -> Path:
    """Write a table atomically (temporary file, fsync, rename): readers see a whole table or none."""
    parts, index, offset = [], {}, 0
    for (task, code), record in records.items():
        data = record.encode()
        index[f"{task} {code}"] = [offset, len(data)]
        parts.append(data)
        offset += len(data)
    head = compact({**header, "format": FORMAT, "index": index}).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(MAGIC + b"%d\n" % len(head) + head)
            for data in parts:
                fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


# -- reading --------------------------------------------------------------------------------------
class AnswerTable:
    """A table opened for reading (memory-mapped: the workers of one machine share its pages)."""

    def __init__(self, path: Path) -> None:
        with open(path, "rb") as fh:
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        data = self._map
        if data[:len(MAGIC)] != MAGIC:
            raise ValueError(f"{path}: not an answer table of format {FORMAT}")
        end = data.find(b"\n", len(MAGIC))
        size = int(data[len(MAGIC):end])
        self.header: dict[str, Any] = json.loads(data[end + 1:end + 1 + size])
        self._base = end + 1 + size
        self.path = path
        self.version: str = self.header["version"]
        self.revision: int = int(self.header["revision"])
        self.languages: dict[str, str] = self.header["languages"]
        self.tasks: dict[str, str] = self.header["tasks"]
        self._index: dict[str, list[int]] = self.header["index"]
        self._metas: OrderedDict[str, tuple[int, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def close(self) -> None:
        self._map.close()

    def language(self, value: str) -> str | None:
        """The code of a language name, code or alias the table knows (case-insensitive); else None."""
        return self.languages.get(value.strip().lower())

    def task(self, value: str) -> str | None:
        return self.tasks.get(value.strip().lower())

    def _meta(self, key: str) -> tuple[int, dict[str, Any]] | None:
        hit = self._metas.get(key)
        if hit is not None:
            return hit
        where = self._index.get(key)
        if where is None:
            return None
        start = self._base + where[0]
        nl = self._map.find(b"\n", start)
        size = int(self._map[start:nl])
        hit = (nl + 1 + size, json.loads(self._map[nl + 1:nl + 1 + size]))
        with self._lock:
            self._metas[key] = hit
            if len(self._metas) > 8192:
                self._metas.popitem(last=False)
        return hit

    def body(self, task: str, code: str, k: int, candidates: str) -> bytes | None:
        """The compact JSON answer for resolved ``task`` and ``code``, or None when the table lacks it
        (or its record cannot be read: a damaged table is skipped, never half-used)."""
        try:
            return self._body(task, code, k, candidates)
        except (ValueError, KeyError, IndexError, TypeError):
            return None

    def _body(self, task: str, code: str, k: int, candidates: str) -> bytes | None:
        found = self._meta(f"{task} {code}")
        if found is None or not 1 <= k <= MAX_K:
            return None
        blob, meta = found
        parts = meta["t"].get(candidates)
        if parts is None:
            return None
        data = self._map
        out = []
        for i, part in enumerate(parts):
            if i % 2 == 0:
                out.append(data[blob + part[0]:blob + part[0] + part[1]])
            elif part == SLOT_K:
                out.append(b"%d" % k)
            else:
                start, ends = meta["i"][part[2:]]
                if ends:
                    out.append(data[blob + start:blob + ends[min(k, len(ends)) - 1]])
        return b"".join(out)


def current_version(home: Path) -> str | None:
    """The version the registry's ``current`` pointer names, when it is a plain valid one."""
    try:
        name = (home / "models" / "current").read_bytes()[:64].decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return name if _VERSION.match(name) and (home / "models" / "versions" / name / "meta.json").is_file() else None


__all__ = ["AnswerTable", "CANDIDATES", "FORMAT", "KINDS", "MAX_K", "Record", "SLOT_K", "compact", "current_version",
           "slot", "table_path", "template", "write_table"]
