"""A matrix of cells from a TOML file, cut into shards (``stepstone train matrix ...``).

Cells come in a fixed order: per (model, seed) the baselines of every target, then per
intermediate source the cells of every target. A shard is a set of whole units — a baseline
cell, or all the cells that share one phase-1 encoder — so that the encoder is trained once, in
one place: shard i of n takes the i-th, (i+n)-th, ... of these units, baselines first. Any
scheduler can run the n shards on n machines; ``--resume`` skips cells whose runs are stored.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from feature_store.runs import RunStore
from trainer.config import CellConfig, MatrixConfig


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
                    train=matrix.train,
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
    ran: list[str] = field(default_factory=list)  # cell ids trained and evaluated
    skipped: list[str] = field(default_factory=list)  # cell ids whose runs were already stored
    runs: int = 0  # runs written


def run_matrix(
    matrix: MatrixConfig,
    *,
    index: int = 1,
    count: int = 1,
    resume: bool = False,
    store: RunStore | None = None,
    on_cell: Callable[[int, int, CellConfig], None] | None = None,
) -> MatrixReport:
    from trainer.cell import run_cell  # torch only when there is work to do
    from trainer.plan import make_plan

    cells = shard(expand(matrix), index, count)
    left: dict[tuple[object, ...] | None, int] = {}
    for cell in cells:
        left[_phase1_key(cell)] = left.get(_phase1_key(cell), 0) + 1
    report = MatrixReport()
    for k, cell in enumerate(cells, start=1):
        if on_cell is not None:
            on_cell(k, len(cells), cell)
        result = run_cell(dataclasses.replace(cell, resume=resume), store)
        (report.skipped if result.skipped else report.ran).append(result.cell_id)
        report.runs += len(result.runs)
        key = _phase1_key(cell)
        left[key] -= 1
        phase1_id = make_plan(cell).phase1_id
        if key is not None and left[key] == 0 and phase1_id and not matrix.train.keep_models:
            shutil.rmtree(Path(matrix.out) / phase1_id, ignore_errors=True)  # every user of it is done
    return report
