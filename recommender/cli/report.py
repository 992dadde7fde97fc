"""``stepstone report`` and ``stepstone explain`` (imported by ``recommender.cli`` when present).

    stepstone report --task udpos --all-known --out reports/udpos [--format html]
    stepstone report --task xnli --languages sw,yo,ht --k 3 --out reports/xnli
    stepstone explain --language sw --task udpos --source deu
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from recommender.cli.common import app, console, handle_errors, service


class ReportFormat(StrEnum):
    md = "md"
    html = "html"


@app.command()
@handle_errors
def report(
    task: Annotated[str, typer.Option("--task", "-t", help="Target task id, e.g. xnli.")],
    out: Annotated[Path, typer.Option(help="Folder to write the report into.")],
    languages: Annotated[str | None, typer.Option(help="Comma-separated target languages (codes or names).")] = None,
    all_known: Annotated[bool, typer.Option("--all-known", help="Every target language with runs of the task.")]
    = False,
    k: Annotated[int, typer.Option(help="Sources listed per language (1..50).")] = 3,
    fmt: Annotated[ReportFormat, typer.Option("--format", help="md (+ heatmap.png) or self-contained html.")]
    = ReportFormat.md,
) -> None:
    """Write a report: heatmap of predicted gain, top-k per language with intervals, reasons, warnings."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from feature_store.errors import InvalidRequest
    from recommender.evaluation.report import write_report

    if languages and all_known:
        raise InvalidRequest("pass either --languages or --all-known, not both")
    if not languages and not all_known:
        raise InvalidRequest("pass --languages sw,yo,… or --all-known")
    codes = [x.strip() for x in languages.split(",") if x.strip()] if languages else None
    svc = service()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as bar:
        ids: dict[str, TaskID] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in ids:
                ids[phase] = bar.add_task(phase, total=total)
            bar.update(ids[phase], completed=done)

        result = svc.report(task, codes, k=k, progress=progress)
        files = write_report(result, out, fmt.value)
    skips = sum(1 for lang in result.languages if lang.advice.get("advice") == "skip")
    console.print(f"wrote {', '.join(str(f) for f in files)}: {len(result.languages)} languages, "
                  f"{len(result.columns)} candidate sources, {skips} with advice to skip", highlight=False)
