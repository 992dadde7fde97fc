"""A matrix run: its job graph, cut into shards, run by an engine, its runs imported (``stepstone train matrix``).

``trainer.matrix.graph`` lists the jobs; ``trainer.matrix.jobs`` runs one on files (skipped when done, resumed
when not, locked); ``trainer.matrix.engine`` runs them one after another here or on a Ray cluster; this
module ties them together: it picks the shard and the jobs still to do, removes each phase-1
encoder once every job that reads it has finished, and imports the runs into the store when it is
local (``trainer.matrix.results``). ``--shard i/n`` takes every n-th unit of jobs from the i-th: a unit is a
phase-1 job with all the jobs that read its encoder, or one job without an encoder (those first).

``expand`` and ``shard`` list the matrix as cells (one per source and target), as the cell command
sees it; the graph shares work that cells repeat.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from feature_store.errors import InvalidRequest, StepstoneError
from feature_store.runs.store import RunStore
from trainer.config import CellConfig, MatrixConfig
from trainer.matrix import graph
from trainer.matrix.engine import ENGINES, JobsFailed, run_local, run_ray
from trainer.matrix.jobs import JobOutcome, job_dir, outcome_of, pending, read_result, release_encoder
from trainer.matrix.results import ResultsImport, import_results, is_local
from trainer.world import is_main_process, world_size

log = logging.getLogger(__name__)


def expand(matrix: MatrixConfig) -> list[CellConfig]:
    """Every cell of the matrix: per (model, seed) the baselines, then each source over the targets."""
    cells: list[CellConfig] = []
    sources = [s for s in dict.fromkeys(matrix.source_tasks) if s != "none"]
    for model in matrix.models:
        for seed in matrix.seeds:
            base = {
                target: CellConfig(
                    model=model,
                    data=matrix.data,
                    target_task=target,
                    languages=matrix.languages_for(target),
                    seed=seed,
                    out=matrix.out,
                    dataset=matrix.dataset,
                    train=matrix.train_for(target),
                    phase1_train=matrix.phase1_train_for(target),
                    source_train=matrix.source_train,
                )
                for target in matrix.target_tasks
            }
            if "none" in matrix.source_tasks:
                cells += base.values()
            for source in sources:
                for language in matrix.source_languages:
                    for size in dict.fromkeys(matrix.intermediate_sizes):
                        cells += [
                            dataclasses.replace(
                                cell, source_task=source, source_language=language, intermediate_size=size or None
                            )
                            for cell in base.values()
                        ]
    return cells


def _phase1_key(cell: CellConfig) -> tuple[object, ...] | None:
    if cell.source_task.strip().lower() in ("none", ""):
        return None
    return (str(cell.model), cell.seed, cell.source_task, cell.source_language, cell.intermediate_size)


def shard(cells: list[CellConfig], index: int, count: int) -> list[CellConfig]:
    """The ``index``-th (1-based) of ``count`` disjoint slices; together they cover every cell."""
    baselines = [[c] for c in cells if _phase1_key(c) is None]
    groups: dict[tuple[object, ...], list[CellConfig]] = {}
    for c in cells:
        key = _phase1_key(c)
        if key is not None:
            groups.setdefault(key, []).append(c)
    units = [*baselines, *groups.values()]  # baselines first: the later cells read their scores
    return [c for unit in units[index - 1 :: count] for c in unit]


@dataclass
class MatrixReport:
    outcomes: list[JobOutcome] = field(default_factory=list)  # one per job of the shard, in graph order
    imported: ResultsImport | None = None  # None when the runs were left in OUT for a later import
    removed: list[str] = field(default_factory=list)  # phase-1 folders deleted once all their users were done
    import_error: str | None = None  # why the store refused the runs (they stay in OUT; training went on)

    def add_import(self, new: ResultsImport) -> None:
        """Several imports in one matrix run: runs inserted add up; the rest is the latest count."""
        inserted = new.inserted + (self.imported.inserted if self.imported else 0)
        self.imported = dataclasses.replace(new, inserted=inserted, duplicates=new.runs - inserted)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def cells_run(self) -> int:
        return sum(len(o.targets) for o in self.outcomes if o.status == "ran")

    @property
    def cells_skipped(self) -> int:
        return sum(len(o.targets) for o in self.outcomes if o.status == "skipped")

    @property
    def failed(self) -> list[JobOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]


def absolute(matrix: MatrixConfig) -> MatrixConfig:
    """The config with absolute paths, as workers that start elsewhere need them."""
    return dataclasses.replace(
        matrix,
        data=Path(matrix.data).absolute(),
        out=Path(matrix.out).absolute(),
        models=[Path(m).absolute() for m in matrix.models],
    )


def forget(jobs: list[graph.Job], matrix: MatrixConfig) -> None:
    """Delete the jobs' results, checkpoints and phase folders, so that they run from scratch."""
    from trainer.cell.steps import make_plan

    out = Path(matrix.out)
    for job in jobs:
        shutil.rmtree(job_dir(out, job), ignore_errors=True)
        for cell in graph.cells(job, matrix):
            plan = make_plan(cell)
            if job.phase == 1 and plan.phase1_id:
                shutil.rmtree(out / plan.phase1_id, ignore_errors=True)
            elif job.phase != 1:
                shutil.rmtree(out / plan.cell_id, ignore_errors=True)


def run_matrix(
    matrix: MatrixConfig,
    *,
    engine: str = "local",
    index: int = 1,
    count: int = 1,
    fresh: bool = False,
    store: RunStore | None = None,
    import_runs: bool | None = None,
    address: str | None = None,
    gpus_per_job: float | None = None,
    cpus_per_job: float = 1.0,
    retries: int = 3,
    num_cpus: int | None = None,
    on_start: Callable[[int, int, graph.Job], None] | None = None,
    on_done: Callable[[JobOutcome], None] | None = None,
) -> MatrixReport:
    """Run the shard's jobs that are not done; import the runs when the store is local.

    ``import_runs`` None imports into ``store`` when it is given and not on a network filesystem:
    under the local engine after every job (baselines come first), under Ray at the end.
    Raises ``JobsFailed`` after the import when a job failed (the report is on the exception).
    """
    if engine not in ENGINES:
        raise InvalidRequest(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    if not is_main_process() or world_size() > 1:  # under torchrun
        if engine != "local" or fresh:
            raise InvalidRequest("under torchrun the matrix runs with --engine local and without --fresh")
        store, import_runs = (store, import_runs) if is_main_process() else (None, False)
    matrix = absolute(matrix)
    jobs = graph.shard(graph.build_graph(matrix), index, count)
    if fresh:
        forget(jobs, matrix)
    todo = {j.id for j in pending(jobs, Path(matrix.out))}
    if import_runs is None:
        import_runs = store is not None and is_local(store.path)
    report = MatrixReport()
    target = store if import_runs else None

    def store_runs() -> None:
        """Import what has finished; a refused import is reported and ends importing, never training."""
        nonlocal target
        if target is None or not Path(matrix.out).is_dir():
            return
        try:
            report.add_import(import_results(Path(matrix.out), target))
        except StepstoneError as exc:
            target = None
            report.import_error = str(exc)
            log.warning(
                "the store refused the matrix's runs (%s); training goes on, the runs stay in %s/jobs", exc, matrix.out
            )

    done: dict[str, JobOutcome] = {}
    by_id = {j.id: j for j in jobs}
    users: dict[str, set[str]] = {j.id: set() for j in jobs}
    for j in jobs:
        for dep in j.depends_on:
            users.setdefault(dep, set()).add(j.id)

    def finished(outcome: JobOutcome) -> None:
        done[outcome.id] = outcome
        if outcome.status != "failed" and not matrix.train.keep_models and is_main_process():
            # A phase-1 encoder goes once every job that reads it is done (GBs each).
            for p1 in [*by_id[outcome.id].depends_on, outcome.id]:
                ok = all(u in done and done[u].status != "failed" for u in users.get(p1, ()))
                if p1 in by_id and by_id[p1].phase == 1 and p1 in done and ok:
                    gone = release_encoder(by_id[p1], Path(matrix.out))
                    if gone:
                        report.removed.append(gone)
        if engine == "local" and outcome.status == "ran" and outcome.runs:
            store_runs()  # in graph order the baselines come first, so runs land as they finish
        if on_done is not None:
            on_done(outcome)

    for job in jobs:
        if job.id not in todo:
            finished(outcome_of(job, "skipped", read_result(Path(matrix.out), job)))
    work = [j for j in jobs if j.id in todo]
    try:
        if engine == "ray" and work:
            run_ray(
                work,
                matrix,
                address=address,
                gpus_per_job=gpus_per_job,
                cpus_per_job=cpus_per_job,
                retries=retries,
                num_cpus=num_cpus,
                on_done=finished,
            )
        elif work:
            run_local(work, matrix, on_start=on_start, on_done=finished)
    finally:  # also when interrupted: what finished reaches the store
        store_runs()
    report.outcomes = [done[j.id] for j in jobs]
    if report.failed:
        first = report.failed[0]
        error = JobsFailed(f"{len(report.failed)} of {len(jobs)} jobs failed; first: {first.label}: {first.error}")
        error.report = report  # type: ignore[attr-defined]
        raise error
    return report
