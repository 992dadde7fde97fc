"""A matrix of cells from a TOML file, cut into shards (``stepstone train matrix ...``).

Cells are listed in a fixed order — per (model, seed, target): the baseline first, then the
intermediate sources — and shard i of n takes every n-th cell from the i-th (round robin, so
each shard gets a share of the cheap baselines and of the expensive cells). Any scheduler can
run the n shards on n machines; ``--resume`` skips cells whose runs are in the store.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from feature_store.runs import RunStore
from trainer.config import CellConfig, MatrixConfig


def expand(matrix: MatrixConfig) -> list[CellConfig]:
    """Every cell of the matrix, baselines first within each (model, seed, target)."""
    cells: list[CellConfig] = []
    sources = list(dict.fromkeys(matrix.source_tasks))
    for model in matrix.models:
        for seed in matrix.seeds:
            for target in matrix.target_tasks:
                base = CellConfig(
                    model=model,
                    data=matrix.data,
                    target_task=target,
                    languages=matrix.languages_for(target),
                    seed=seed,
                    out=matrix.out,
                    dataset=matrix.dataset,
                    train=matrix.train,
                )
                if "none" in sources:
                    cells.append(base)
                for source in (s for s in sources if s != "none"):
                    for language in matrix.source_languages:
                        for size in dict.fromkeys(matrix.intermediate_sizes):
                            cells.append(
                                dataclasses.replace(
                                    base, source_task=source, source_language=language, intermediate_size=size or None
                                )
                            )
    return cells


def shard(cells: list[CellConfig], index: int, count: int) -> list[CellConfig]:
    """The ``index``-th (1-based) of ``count`` disjoint slices; together they cover every cell."""
    return cells[index - 1 :: count]


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

    cells = shard(expand(matrix), index, count)
    report = MatrixReport()
    for k, cell in enumerate(cells, start=1):
        if on_cell is not None:
            on_cell(k, len(cells), cell)
        result = run_cell(dataclasses.replace(cell, resume=resume), store)
        (report.skipped if result.skipped else report.ran).append(result.cell_id)
        report.runs += len(result.runs)
    return report
