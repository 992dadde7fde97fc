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

from recommender.cli import app, console, handle_errors, print_json, service


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
    from recommender.report import build_report, write_report
    from recommender.service import MAX_K

    if languages and all_known:
        raise InvalidRequest("pass either --languages or --all-known, not both")
    if not languages and not all_known:
        raise InvalidRequest("pass --languages sw,yo,… or --all-known")
    if not 1 <= k <= MAX_K:
        raise InvalidRequest(f"k must be an integer from 1 to {MAX_K}, got {k}")
    codes = [x.strip() for x in languages.split(",") if x.strip()] if languages else None
    svc = service()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=not console.is_terminal) as bar:
        ids: dict[str, TaskID] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in ids:
                ids[phase] = bar.add_task(phase, total=total)
            bar.update(ids[phase], completed=done)

        result = build_report(svc, task, codes, k=k, progress=progress)
        files = write_report(result, out, fmt.value)
    skips = sum(1 for lang in result.languages if lang.advice.get("advice") == "skip")
    console.print(f"wrote {', '.join(str(f) for f in files)}: {len(result.languages)} languages, "
                  f"{len(result.columns)} candidate sources, {skips} with advice to skip", highlight=False)


@app.command()
@handle_errors
def explain(
    language: Annotated[str, typer.Option("--language", "-l", help="Target language: code or name.")],
    task: Annotated[str, typer.Option("--task", "-t", help="Target task id, e.g. xnli.")],
    source: Annotated[str, typer.Option("--source", "-s", help="Candidate: intermediate task (mnli), source "
                                                               "language (deu) or task/language.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Every feature contribution behind one candidate's rank and predicted gain."""
    from rich.table import Table

    from recommender.explain import explain_candidate

    result = explain_candidate(service(), language, task, source)
    if json_out:
        print_json(result)
        return
    q = result["query"]
    console.print(f"{result['source_task']}/{result['source_language']} ({result['kind']}) for {q['task']} → "
                  f"{q['language_name']} ({q['language']}): rank {result['rank']} of {result['candidates']}, "
                  f"model {result['model_version']}", highlight=False)
    if result.get("predicted_gain") is not None:
        interval = ""
        if result.get("gain_low") is not None:
            interval = f", interval [{result['gain_low']:+.2f}, {result['gain_high']:+.2f}]"
        console.print(f"predicted gain {result['predicted_gain']:+.2f} points{interval}", highlight=False)
    for name, unit in (("ranker", "score"), ("gain", "points")):
        part = result.get(name)
        if part is None:
            continue
        table = Table(title=f"{name}: {part['prediction']:+.3f} {unit} = expected {part['expected_value']:+.3f} "
                            "+ contributions", title_justify="left")
        table.add_column("contribution", justify="right")
        table.add_column("reason")
        for r in part["reasons"]:
            table.add_row(f"{r['contribution']:+.3f}", r["text"])
        console.print(table)
    for w in result["warnings"]:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
