"""``stepstone recommend`` and ``stepstone explain``: one query's answer, one candidate's reasons."""

from __future__ import annotations

from typing import Annotated, Any

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
    model: Annotated[str | None, typer.Option(help="Count only measured runs of models whose name contains "
                                                   "this (e.g. xlm-roberta-large).")] = None,
) -> None:
    """Rank transfer sources for a target task and language."""
    result = service().recommend(language, task, k=k, candidates=candidates.value, model=model).as_dict()
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
    if not decision["recommendations"]:
        console.print(f"{_TITLES[decision['kind']]}: no items", highlight=False)
        for note in decision.get("notes") or []:
            console.print(f"  note: {note}", highlight=False, markup=False)
        console.print()
        return
    table = Table(title=f"{_TITLES[decision['kind']]} · basis: {decision['basis'] or 'none'}", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("intermediate task" if decision["kind"] == "intermediate" else "source language",
                     overflow="fold")
    table.add_column("gain", justify="right", no_wrap=True)
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
        table.add_row(str(r["rank"]), label, fmt_gain(r["gain"]), interval, r["basis"])
    console.print(table)
    for r in decision["recommendations"]:
        for reason in r.get("why") or []:
            console.print(f"  {r['rank']}. {reason}", highlight=False, markup=False)
        for caveat in r.get("caveats") or []:
            console.print(f"  {r['rank']}. (caveat) {caveat}", highlight=False, markup=False)
    for note in decision.get("notes") or []:
        console.print(f"  note: {note}", highlight=False, markup=False)
    colour = {"train": "bold green", "skip": "bold red", "measure first": "bold yellow"}
    if decision.get("advice"):
        console.print(f"[{colour[decision['advice']]}]advice: {decision['advice']}.[/] {decision['advice_detail']}",
                      highlight=False)
    for c in decision.get("costs") or []:
        hours = "unknown" if c["gpu_hours"] is None else f"{c['gpu_hours']:.2f} GPU-hours"
        console.print(f"  cost of one run of {c['source_task']}/{c['source_language']}: {hours} at {c['rate']}",
                      highlight=False, markup=False)
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
    """One candidate as `recommend` ranks it (rank, gain, reasons), with every feature contribution."""
    result = service().explain(language, task, source)
    if json_out:
        print_json(result)
        return
    q = result["query"]
    console.print(f"{result['source_task']}/{result['source_language']} ({result['kind']}) for {q['task']} → "
                  f"{q['language_name']} ({q['language']}): rank {result['rank']} of {result['candidates']}, "
                  f"model {result['model_version']}", highlight=False)
    if result.get("gain") is not None:
        interval = ""
        if result.get("gain_low") is not None:
            interval = f", interval [{result['gain_low']:+.2f}, {result['gain_high']:+.2f}]"
        console.print(f"gain {result['gain']:+.2f} points{interval} · basis: {result['basis']} · "
                      f"{result['evidence']}", highlight=False, markup=False)
    for reason in result.get("why") or []:
        console.print(f"  {reason}", highlight=False, markup=False)
    for caveat in result.get("caveats") or []:
        console.print(f"  (caveat) {caveat}", highlight=False, markup=False)
    for name, unit in (("ranker", "score"), ("gain_model", "points")):
        part = result.get(name)
        if part is None:
            continue
        table = Table(title=f"{name}: {part['prediction']:+.3f} {unit} = the average candidate's "
                            f"{part['peers_mean']:+.3f} + contributions (this candidate's minus the average's)",
                      title_justify="left")
        table.add_column("contribution", justify="right")
        table.add_column("reason")
        for r in part["reasons"]:
            table.add_row(f"{r['contribution']:+.3f}", ("(caveat) " if r.get("caveat") else "") + r["text"])
        console.print(table)
    if result.get("gain_model") and result.get("basis") == "model":
        console.print("note: the gain shown is the gain model's prediction made non-increasing in the ranker's "
                      "order (docs/reports.md), so it can differ from the gain model's own figure above",
                      highlight=False, markup=False)
    for w in result["warnings"]:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
