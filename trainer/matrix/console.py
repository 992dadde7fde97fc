"""What ``train plan`` and ``train matrix`` print: the job table, a progress bar, the summary table.

rich renders them; nothing here computes anything the library does not already report.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from trainer.matrix.graph import Job
from trainer.matrix.jobs import JobOutcome

PHASES = {1: "1 intermediate", 2: "2 fine-tune+eval", 3: "3 eval"}


def _hours(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"


def plan_table(jobs: list[Job]) -> Table:
    table = Table(title=f"{len(jobs)} jobs", show_lines=False)
    for name in ("id", "phase", "model", "source", "trains on", "evaluates", "seed", "needs", "GPU-h"):
        table.add_column(name, justify="right" if name in ("seed", "GPU-h") else "left")
    for job in jobs:
        source = job.source_task if job.source_task == "none" else f"{job.source_task}.{job.source_language}"
        if job.intermediate_size:
            source += f".n{job.intermediate_size}"
        trains = f"{job.target_task}.{job.train_language}" if job.phase == 2 else ("-" if job.phase == 3 else source)
        table.add_row(
            job.id,
            PHASES[job.phase],
            job.model,
            source,
            trains,
            ", ".join(f"{t} ({len(langs)})" for t, langs in job.evaluates.items()) or "-",
            str(job.seed),
            ", ".join(job.depends_on) or "-",
            _hours(job.estimated_gpu_hours),
        )
    hours = [j.estimated_gpu_hours for j in jobs]
    total = None if any(h is None for h in hours) else sum(h or 0.0 for h in hours)
    how = "at the trainer's measured rates unless --tokens-per-s is given; training only"
    table.caption = f"estimated GPU-hours ({how}): {_hours(total)}"
    return table


def summary_table(outcomes: list[JobOutcome]) -> Table:
    table = Table(title="matrix summary")
    for name in ("phase", "jobs", "ran", "skipped", "failed", "cells", "runs", "hours"):
        table.add_column(name, justify="left" if name == "phase" else "right")
    for phase in (1, 2, 3):
        rows = [o for o in outcomes if o.phase == phase]
        if not rows:
            continue
        table.add_row(
            PHASES[phase],
            str(len(rows)),
            *(str(sum(1 for o in rows if o.status == s)) for s in ("ran", "skipped", "failed")),
            str(sum(len(o.targets) for o in rows)),
            str(sum(o.runs for o in rows)),
            f"{sum(o.seconds for o in rows) / 3600:.2f}",
        )
    return table


def failures_table(outcomes: list[JobOutcome]) -> Table:
    table = Table(title="failed jobs")
    for name in ("id", "job", "error"):
        table.add_column(name)
    for o in outcomes:
        if o.status == "failed":
            table.add_row(o.id, o.label, o.error or "")
    return table


@contextmanager
def progress_bar(console: Console, total: int, title: str, *, disable: bool = False) -> Iterator[Progress]:
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[last]}"),
        console=console,
        transient=False,
        disable=disable,
    )
    with bar:
        bar.add_task(title, total=total, last="")
        yield bar


def advance(bar: Progress, outcome: JobOutcome) -> None:
    task = bar.task_ids[0]
    bar.update(task, advance=1, last=f"{outcome.status}: {outcome.label}")
