"""The run-store use cases of the Service: imports, corrections, deletes, listings, exports.

``Service`` inherits them (one Service for every use case); they need only its run store and
its language features, so they live apart from the model and answer cases.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from feature_store.errors import InvalidRequest
from feature_store.features import FeatureBuilder
from feature_store.languages import language_name
from feature_store.runs.files import (
    checked_lines,
    parse_csv_lines,
    parse_csv_text,
    parse_jsonl_lines,
    parse_jsonl_text,
    parse_records,
    read_runs,
    runs_to_csv,
)
from feature_store.runs.run import ImportResult, Run
from feature_store.runs.store import RunStore
from feature_store.tasks import canonical_task, registry

MAX_PAGE = 1000
UPLOAD_FORMATS = ("json", "csv", "jsonl")


class RunUseCases:
    """Mixed into ``Service``: what users do with runs and the listings built from them."""

    store: RunStore
    _listings: dict[tuple[str, int], Any]

    @property
    def builder(self) -> FeatureBuilder:  # the Service's, shared with its answers
        raise NotImplementedError

    def import_file(self, path: str | Path, *, replace: bool = False) -> ImportResult:
        """Import a run file whole; a conflicting score is an error unless ``replace`` corrects it."""
        return self.store.insert(read_runs(path), replace=replace)

    def import_text(self, text: str, fmt: str, source: str | None = None, *, replace: bool = False) -> ImportResult:
        """Validate a CSV or JSONL upload whole (the same rules as ``stepstone runs import``)."""
        if fmt == "csv":
            return self.store.insert(parse_csv_text(text, source), replace=replace)
        if fmt == "jsonl":
            return self.store.insert(parse_jsonl_text(text, source), replace=replace)
        raise InvalidRequest(f"unsupported upload format {fmt!r} (use {', '.join(UPLOAD_FORMATS)})")

    def import_stream(self, binary: IO[bytes], fmt: str, source: str | None = None, *,
                      replace: bool = False) -> ImportResult:
        """``import_text`` for an uploaded file, read line by line (its text is never held whole)."""
        lines = checked_lines(binary, source)
        if fmt == "csv":
            return self.store.insert(parse_csv_lines(lines, source), replace=replace)
        if fmt == "jsonl":
            return self.store.insert(parse_jsonl_lines(lines, source), replace=replace)
        raise InvalidRequest(f"unsupported upload format {fmt!r} (use {', '.join(UPLOAD_FORMATS)})")

    def import_records(self, records: Sequence[Mapping[str, Any]], *, replace: bool = False) -> ImportResult:
        return self.store.insert(parse_records(records), replace=replace)

    def import_runs(self, runs: Sequence[Run], *, replace: bool = False) -> ImportResult:
        return self.store.insert(runs, replace=replace)

    def count_runs(self, **filters: str | None) -> int:
        return self.store.count(**filters)

    def delete_runs(self, *, expected: int | None = None, **filters: str | None) -> int:
        """Delete the runs matching the filters (at least one); ``expected`` guards against a store
        that changed since the count the user confirmed. Bumps the store revision like an import."""
        return self.store.delete(expected=expected, **filters)

    def list_runs(self, *, limit: int = 100, offset: int = 0, **filters: str | None) -> dict[str, Any]:
        """One page of runs matching the filters (exact match, languages resolved), in import order."""
        limit = max(1, min(int(limit), MAX_PAGE))
        offset = max(0, int(offset))
        total = self.store.count(**filters)  # the store rejects unknown filters and skips empty ones
        runs = self.store.query(limit=limit, offset=offset, **filters)
        nxt = offset + len(runs)
        counted = [(self.store.count(**{**filters, col: t}), t) for col in ("target_task", "source_task")
                   for t, _ in self.task_versions(filters.get(col), col)]
        others = [f"{n} runs under {t}" for n, t in counted if n]
        notes = [f"{filters.get('target_task') or filters.get('source_task')} is also stored under other dataset "
                 f"versions, not listed here: {', '.join(others)} (filter by those ids to list them)"] if others else []
        return {"total": total, "limit": limit, "offset": offset,
                "next_offset": nxt if nxt < total else None, "runs": [r.as_dict() for r in runs], "notes": notes}

    def export_runs(self, out: Any, **filters: str | None) -> int:
        """Write the matching runs as CSV in the run schema to a text stream; returns how many."""
        return runs_to_csv(self.store.iter(limit=None, offset=0, **filters), out)

    # -- listings -------------------------------------------------------------------------------
    def _listing(self, name: str, build: Callable[[], Any]) -> Any:
        key = (name, self.store.revision())
        if key not in self._listings:
            self._listings = {k: v for k, v in self._listings.items() if k[1] == key[1]}
            self._listings[key] = build()
        return self._listings[key]

    def languages(self) -> list[dict[str, Any]]:
        """Languages with runs in the store: codes, names, roles and CC-100 size (cached per revision)."""
        return list(self._listing("languages", self._languages))

    def _languages(self) -> list[dict[str, Any]]:
        counts = self.store.language_counts()
        lf = self.builder.languages
        out = []
        for code in sorted(counts):
            cc, present = lf.cc100_log_gib(code)
            out.append({"code": code, "name": language_name(code), "target_runs": counts[code][0],
                        "source_runs": counts[code][1],
                        "cc100_gib": round(math.expm1(cc), 2) if present else None, "uriel": lf.known(code)})
        return out

    def tasks(self) -> list[dict[str, Any]]:
        """The task registry with run counts (cached per revision)."""
        return list(self._listing("tasks", self._tasks))

    def _tasks(self) -> list[dict[str, Any]]:
        """Every registry task with its runs: as a target (every dataset version of it: ``udpos_v2.8``
        counts for ``udpos``) and as another target's intermediate source; ``runs`` is their sum."""
        target: dict[str, int] = {}
        for task, n in self.store.task_counts().items():
            key = canonical_task(task)
            target[key] = target.get(key, 0) + int(n)
        inter: dict[str, int] = {}
        for target_task, source_task, n in self.store.counts("target_task", "source_task"):
            if canonical_task(source_task) != canonical_task(target_task):
                for part in source_task.split("+"):
                    key = canonical_task(part)
                    inter[key] = inter.get(key, 0) + int(n)
        return [{**t.as_dict(), "target_runs": target.get(t.id, 0), "intermediate_runs": inter.get(t.id, 0),
                 "runs": target.get(t.id, 0) + inter.get(t.id, 0)} for t in registry()]

    def task_versions(self, task: str | None, column: str = "target_task") -> list[tuple[str, int]]:
        """Other stored ids of the same registry task as ``task`` (``udpos_v2.8`` beside ``udpos``), with counts."""
        if not task:
            return []
        want = canonical_task(task)
        return [(t, int(n)) for t, n in self.store.counts(column) if canonical_task(t) == want and t != task]


__all__ = ["RunUseCases", "MAX_PAGE", "UPLOAD_FORMATS"]
