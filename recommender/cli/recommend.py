"""``stepstone recommend`` and ``stepstone explain``: one query's answer, one candidate's reasons."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from recommender.cli.common import CandidateKind, Format, app, console, fmt_gain, handle_errors, print_json, service


def _task_label(task: str) -> str:
    if task == "xstilts-best":
        return "best X-STILTs task (not named in the source)"
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
    console.print(f"{q['task']} → {q['language_name']} ({q['language']}) · model {result['model_version']}",
                  highlight=False)
    level = result.get("interval_level")
    for decision in result["decisions"].values():
        _print_decision(decision, level)
    for w in result["warnings"]:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)


_TITLES = {"intermediate": "Which intermediate task (train on it first, then on the target task in English)",
           "language": "Which source language's training data (instead of English)"}


def _print_decision(decision: dict[str, Any], level: float | None) -> None:
    """One decision as its own section: a table ranked within its kind, reasons, notes and advice."""
    table = Table(title=f"{_TITLES[decision['kind']]} · basis: {decision['basis'] or 'none'}", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("intermediate task" if decision["kind"] == "intermediate" else "source language",
                     overflow="fold")
    table.add_column("predicted gain", justify="right", no_wrap=True)
    table.add_column(f"{level:.0%} interval" if level else "interval", justify="right", no_wrap=True)
    table.add_column("basis", no_wrap=True)
    for r in decision["recommendations"]:
        interval = ("–" if r.get("gain_low") is None else f"{r['gain_low']:+.1f} … {r['gain_high']:+.1f}")
        if decision["kind"] == "intermediate":
            label = _task_label(r["source_task"]) + ("" if r["source_language"] == "eng"
                                                     else f" ({r['source_language_name']})")
            if r.get("source_size"):
                label += f", {r['source_size']:,.0f} examples"
        else:
            label = f"{r['source_language_name']} ({r['source_language']})"
        table.add_row(str(r["rank"]), label, fmt_gain(r["predicted_gain"]), interval, r["basis"])
    console.print(table)
    for r in decision["recommendations"]:
        for reason in r.get("why") or []:
            console.print(f"  {r['rank']}. {reason}", highlight=False, markup=False)
    for note in decision.get("notes") or []:
        console.print(f"  note: {note}", highlight=False, markup=False)
    if decision.get("advice_detail"):
        console.print(f"[bold red]advice: skip.[/] {decision['advice_detail']}", highlight=False)
    elif decision.get("advice") == "train":
        console.print("[bold green]advice: train[/] on the first one", highlight=False)
    console.print()


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
