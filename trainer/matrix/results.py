"""Runs from a matrix's output folder into the run store (``stepstone runs import-results OUT/``).

Jobs write their runs into ``OUT/jobs/<id>/result.json`` and never touch the store, so the store
(SQLite) never has to sit on the shared filesystem that the workers write to. This step reads every
finished job's runs, fills each run's ``baseline_score`` from the baseline run of the same
(dataset, model, target, language, seed) found in the folder or already in the store, and inserts
them in one transaction. Importing twice adds nothing (the store's key). No torch here.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from feature_store.errors import InvalidRequest, InvalidRun
from feature_store.runs.files import parse_records
from feature_store.runs.run import Run
from feature_store.runs.store import RunStore

# Filesystems on which SQLite's WAL (shared memory, POSIX locks) is not safe.
NETWORK_FILESYSTEMS = frozenset(
    {"nfs", "nfs4", "cifs", "smbfs", "smb3", "lustre", "gpfs", "beegfs", "ceph", "glusterfs", "fuse.sshfs", "9p"}
)


@dataclass(frozen=True)
class ResultsImport:
    jobs: int  # finished jobs found
    runs: int  # runs in them
    inserted: int  # runs new to the store
    duplicates: int  # runs the store already held
    baselines_filled: int  # runs whose baseline_score came from a baseline run


def read_results(out_dir: Path) -> tuple[int, list[Run]]:
    """(finished jobs, their runs) under ``out_dir/jobs/``; a file that is not a job result is an error."""
    folder = Path(out_dir) / "jobs"
    if not Path(out_dir).is_dir():
        raise InvalidRequest(f"no such folder: {out_dir}")
    jobs, runs = 0, list[Run]()
    for path in sorted(folder.glob("*/result.json")):
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InvalidRun(f"not valid JSON ({exc.msg})", source=str(path)) from None
        if not isinstance(result, dict) or result.get("id") != path.parent.name:
            raise InvalidRun("not a job result (its id does not match its folder)", source=str(path))
        jobs += 1
        records = result.get("runs", [])
        if not isinstance(records, list):
            raise InvalidRun("'runs' is not a list", source=str(path))
        if records:  # validated like any import: columns, languages, task ids, numbers
            runs.extend(parse_records(records, source=str(path)))
    return jobs, runs


# Where runs carry them, the baseline must also share the model's content, the training
# configuration and the evaluated split.
_SAME = ("model_hash", "config_hash", "split")


def _baseline_key(run: Run) -> tuple[object, ...]:
    same = tuple(getattr(run, name, "") for name in _SAME)
    return (run.dataset, run.model, run.target_task, run.target_language, run.seed, *same)


def _is_baseline(run: Run) -> bool:
    return run.source_task == run.target_task and run.source_language == "eng" and run.source_size is None


def fill_baselines(runs: list[Run], store: RunStore | None = None) -> tuple[list[Run], int]:
    """Each run without a baseline_score gets its baseline run's score (from ``runs``, else the store)."""
    baselines = {_baseline_key(r): r.score for r in runs if _is_baseline(r)}
    filled, count = [], 0
    for run in runs:
        if run.baseline_score is None:
            score = baselines.get(_baseline_key(run))
            if score is None and store is not None:
                found = [
                    r
                    for r in store.query(
                        dataset=run.dataset,
                        model=run.model,
                        target_task=run.target_task,
                        target_language=run.target_language,
                        source_task=run.target_task,
                        source_language="eng",
                    )
                    if r.source_size is None and _baseline_key(r) == _baseline_key(run)
                ]
                score = found[-1].score if found else None
            if score is not None:
                run = dataclasses.replace(run, baseline_score=score)
                count += 1
        filled.append(run)
    return filled, count


def import_results(out_dir: Path, store: RunStore) -> ResultsImport:
    """Insert the runs of every finished job under ``out_dir`` into ``store``; idempotent."""
    jobs, runs = read_results(out_dir)
    runs, filled = fill_baselines(runs, store)
    # Baselines first: a store that fills gaps by itself then sees them before the runs that need them.
    runs.sort(key=lambda r: not _is_baseline(r))
    result = store.insert(runs) if runs else None
    return ResultsImport(
        jobs=jobs,
        runs=len(runs),
        inserted=result.inserted if result else 0,
        duplicates=result.duplicates if result else 0,
        baselines_filled=filled,
    )


def is_local(path: Path) -> bool:
    """False when ``path`` lies on a network filesystem (per /proc/mounts); True where that is unknown."""
    try:
        mounts = Path("/proc/mounts").read_text(encoding="utf-8").splitlines()
    except OSError:
        return True
    target = str(Path(path).resolve())
    best, fstype = "", ""
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, fstype = point, parts[2]
    return fstype not in NETWORK_FILESYSTEMS
