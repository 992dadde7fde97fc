"""``stepstone recommend`` and ``stepstone explain``: one query's answer, one candidate's reasons."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from recommender.cli.common import CandidateKind, Format, app, console, fmt_gain, handle_errors, print_json, service


def _task_label(task: str) -> str:
    parts = task.split("+")
    return task if len(parts) <= 2 else f"multi-task ({len(parts)}: {parts[0]}, …)"


@app.command()
@handle_errors
def recommend(
    language: Annotated[str, typer.Option("--language", "-l", help="Target language: code or name.")],
    task: Annotated[str, typer.Option("--task", "-t", help="Target task id, e.g. xnli.")],
    k: Annotated[int, typer.Option(help="How many sources to return (1..50).")] = 3,
    candidates: Annotated[CandidateKind, typer.Option(help="Which sources to rank.")] = CandidateKind.all,
    fmt: Annotated[Format, typer.Option("--format", help="table or json (the REST body).")] = Format.table,
) -> None:
    """Rank transfer sources for a target task and language."""
    result = service().recommend(language, task, k=k, candidates=candidates.value)
    if fmt is Format.json:
        print_json(result)
        return
    q = result["query"]
    table = Table(title=f"{q['task']} → {q['language_name']} ({q['language']}) · model "
                        f"{result['model_version']}")
    level = result.get("interval_level")
    table.add_column("#", justify="right")
    table.add_column("source (task · language)", overflow="fold")
    table.add_column("kind", no_wrap=True)
    table.add_column("predicted gain", justify="right", no_wrap=True)
    table.add_column(f"{level:.0%} interval" if level else "interval", justify="right", no_wrap=True)
    table.add_column("basis", no_wrap=True)
    for r in result["recommendations"]:
        interval = ("–" if r.get("gain_low") is None else f"{r['gain_low']:+.1f} … {r['gain_high']:+.1f}")
        table.add_row(str(r["rank"]), f"{_task_label(r['source_task'])} · {r['source_language_name']} "
                                      f"({r['source_language']})", r["kind"], fmt_gain(r["predicted_gain"]),
                      interval, r["basis"])
    console.print(table)
    for r in result["recommendations"]:
        for reason in r.get("why") or []:
            console.print(f"  {r['rank']}. {reason}", highlight=False, markup=False)
    if result.get("advice_detail"):
        style = "bold red" if result.get("advice") == "skip" else "bold green"
        console.print(f"[{style}]advice:[/] {result['advice_detail']}", highlight=False)
    for w in result["warnings"]:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)


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
    result = service().explain(language, task, source)
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
