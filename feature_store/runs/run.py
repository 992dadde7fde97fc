"""The run: one measured transfer cell, its columns and its identity (DESIGN.md, "Core objects").

A run's ``key`` says which cell it measures; re-importing a key adds nothing (or is a conflict).
The file formats that carry runs are in ``feature_store.runs.files``, the SQLite store in
``feature_store.runs.store``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

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


@dataclass(frozen=True, slots=True)  # slots: a 10 MB upload holds ~200k of them
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
RUN_FIELDS = tuple(f.name for f in fields(Run))
# What a re-import of the same key must repeat (or replace explicitly); identity and flags are not values.
VALUE_FIELDS = ("score", "metric", "baseline_score")


@dataclass(frozen=True)
class ImportResult:
    """What an import did; ``warnings`` are notes the user should see (a script subtag folded)."""

    inserted: int
    duplicates: int
    replaced: int = 0
    warnings: tuple[str, ...] = ()
    flagged: int = 0  # stored runs that gained a flag (a re-import never drops one)

    def _replace_warnings(self, warnings: Iterable[str]) -> ImportResult:
        return ImportResult(self.inserted, self.duplicates, self.replaced, tuple(warnings), self.flagged)


class RunBatch(list[Run]):
    """Parsed runs with the row each came from, so that the store's errors can name it."""

    def __init__(self, runs: Iterable[Run] = (), rows: Iterable[int] = (), source: str | None = None,
                 warnings: Iterable[str] = ()) -> None:
        super().__init__(runs)
        self.rows = list(rows)
        self.source = source
        self.warnings = tuple(warnings)


def fingerprint_runs(runs: Iterable[Run]) -> str:
    """The same fingerprint as RunStore.fingerprint, for runs held in memory."""
    digest = hashlib.sha256()
    for key, score in sorted((r.key, r.score) for r in runs):
        digest.update(f"{key}\t{score!r}\n".encode())
    return digest.hexdigest()
