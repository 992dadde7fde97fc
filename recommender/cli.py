"""The ``stepstone`` command line: thin commands over ``recommender.service``.

Each command calls one service function; a ``StepstoneError`` becomes ``Error: …`` on stderr and
exit code 1. Heavy modules (LightGBM, torch) are imported inside commands, so ``--help`` is quick
and nothing but ``train`` ever imports torch.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from feature_store.errors import StepstoneError

app = typer.Typer(help="Which intermediate task or source language to train on before zero-shot "
                       "cross-lingual transfer.", no_args_is_help=True, add_completion=False)
runs_app = typer.Typer(help="Import, list and export measured runs.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
# Piped output (and tests) get a fixed, roomy width instead of rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 120)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)
F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(func: F) -> F:
    """Turn the library's errors into ``Error: …`` and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except StepstoneError as exc:
            err_console.print(f"Error: {exc}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


class Format(StrEnum):
    table = "table"
    json = "json"


class CandidateKind(StrEnum):
    all = "all"
    intermediate = "intermediate"
    language = "language"


def service() -> Any:
    from recommender.service import Service

    return Service()


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _task_label(task: str) -> str:
    parts = task.split("+")
    return task if len(parts) <= 2 else f"multi-task ({len(parts)}: {parts[0]}, …)"


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:+.2f}"
    return str(value)


@app.command()
@handle_errors
def init() -> None:
    """Seed the run store with the shipped data, build the feature cache and the default model."""
    svc = service()
    live = svc.live()
    console.print(f"store: {svc.store.count()} runs · model {live.version} "
                  f"({live.meta.get('queries')} queries)")


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
                                      f"({r['source_language']})", r["kind"], _fmt(r["predicted_gain"]),
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
def retrain() -> None:
    """Train a new model version on every run in the store and make it current."""
    info = service().retrain()
    console.print(f"model {info['version']}: {info['queries']} queries, {info['rows']} rows, "
                  f"{info['train_seconds']} s")


@app.command()
@handle_errors
def languages(fmt: Annotated[Format, typer.Option("--format")] = Format.table) -> None:
    """Languages with runs in the store."""
    rows = service().languages()
    if fmt is Format.json:
        print_json(rows)
        return
    table = Table("code", "name", "target runs", "source runs", "CC-100 GiB", "URIEL")
    for r in rows:
        table.add_row(r["code"], r["name"], str(r["target_runs"]), str(r["source_runs"]),
                      "–" if r["cc100_gib"] is None else f"{r['cc100_gib']:g}", "yes" if r["uriel"] else "no")
    console.print(table)


@app.command()
@handle_errors
def tasks(fmt: Annotated[Format, typer.Option("--format")] = Format.table) -> None:
    """The task registry, with difficulty figures and run counts."""
    rows = service().tasks()
    if fmt is Format.json:
        print_json(rows)
        return
    from rich import box

    for kind in ("intermediate", "target"):
        table = Table(title=f"{kind} tasks (headroom = difficulty, see docs/design.md)", box=box.SIMPLE)
        for col in ("task", "format", "level", "train", "classes", "en", "headroom", "runs"):
            table.add_column(col, no_wrap=True, justify="left" if col in ("task", "format", "level") else "right")
        for r in (r for r in rows if r["kind"] == kind):
            table.add_row(r["id"], r["format"], r["level"],
                          "–" if r["train_size"] is None else f"{r['train_size']:,}",
                          "–" if r["num_classes"] is None else str(r["num_classes"]),
                          "–" if r["english_score"] is None else f"{r['english_score']:g}",
                          "–" if r["headroom"] is None else f"{r['headroom']:.2f}", str(r["runs"]))
        console.print(table)


@app.command()
@handle_errors
def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Serve the REST API (OpenAPI docs at /docs)."""
    import uvicorn

    service().live()  # build the default model before the server takes requests
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="warning", access_log=False)


@runs_app.command("import")
@handle_errors
def runs_import(path: Annotated[Path, typer.Argument(help="A .csv or .jsonl file in the run schema.")]) -> None:
    """Import runs (all or nothing; re-importing adds nothing)."""
    result = service().import_file(path)
    console.print(f"imported {result.inserted} runs ({result.duplicates} already in the store)")


def _filters(target_task: str | None, target_language: str | None, source_task: str | None,
             source_language: str | None, dataset: str | None, model: str | None) -> dict[str, str | None]:
    return {"target_task": target_task, "target_language": target_language, "source_task": source_task,
            "source_language": source_language, "dataset": dataset, "model": model}


FilterOpt = Annotated[str | None, typer.Option()]


@runs_app.command("list")
@handle_errors
def runs_list(target_task: FilterOpt = None, target_language: FilterOpt = None, source_task: FilterOpt = None,
              source_language: FilterOpt = None, dataset: FilterOpt = None, model: FilterOpt = None,
              limit: int = 20, offset: int = 0,
              fmt: Annotated[Format, typer.Option("--format")] = Format.table) -> None:
    """List runs matching the filters."""
    svc = service()
    filters = _filters(target_task, target_language, source_task, source_language, dataset, model)
    runs = svc.store.query(limit=limit, offset=offset, **filters)
    total = svc.store.count(**filters)
    if fmt is Format.json:
        print_json({"total": total, "runs": [r.as_dict() for r in runs]})
        return
    table = Table("dataset", "model", "target", "source", "score", "baseline", title=f"{total} runs")
    for r in runs:
        table.add_row(r.dataset, r.model, f"{r.target_task}/{r.target_language}",
                      f"{r.source_task}/{r.source_language}", f"{r.score:g}",
                      "–" if r.baseline_score is None else f"{r.baseline_score:g}")
    console.print(table)


@runs_app.command("export")
@handle_errors
def runs_export(target_task: FilterOpt = None, target_language: FilterOpt = None,
                source_task: FilterOpt = None, source_language: FilterOpt = None, dataset: FilterOpt = None,
                model: FilterOpt = None,
                out: Annotated[Path | None, typer.Option(help="File to write (default: stdout).")] = None) -> None:
    """Export runs as CSV in the run schema."""
    from feature_store.paths import atomic_write_bytes
    from feature_store.runs import runs_to_csv

    svc = service()
    runs = svc.store.iter(**_filters(target_task, target_language, source_task, source_language, dataset,
                                     model))
    if out is None:
        runs_to_csv(runs, sys.stdout)
        return
    import io

    buf = io.StringIO()
    n = runs_to_csv(runs, buf)
    atomic_write_bytes(out, buf.getvalue().encode())
    err_console.print(f"wrote {n} runs to {out}")


def _mount_optional() -> None:
    """Sub-commands from other modules; the trainer's import torch only when a command runs."""
    try:
        from trainer.cli import app as train_app
    except ImportError:
        return
    for command in train_app.registered_commands:
        if command.callback is not None:
            command.callback = handle_errors(command.callback)
    app.add_typer(train_app, name="train", help="Run the GPU trainer (needs the `train` extra).")


_mount_optional()

# Commands defined in their own modules (they import this one for `app` and `handle_errors`).
for _module in ("recommender.cli_evaluate", "recommender.cli_report"):
    if importlib.util.find_spec(_module) is not None:
        importlib.import_module(_module)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
