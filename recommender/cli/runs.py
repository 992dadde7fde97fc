"""``stepstone runs import | list | export``: the measured runs in the store (``import-results``,
which reads a training matrix's output, is mounted by ``stepstone.cli``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from recommender.cli.common import Format, app, console, err_console, handle_errors, print_json, service

runs_app = typer.Typer(help="Import, list and export measured runs.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")


@runs_app.command("import")
@handle_errors
def runs_import(path: Annotated[Path, typer.Argument(help="A .csv or .jsonl file in the run schema.")],
                replace: Annotated[bool, typer.Option(
                    "--replace", help="Correct stored runs whose score differs (else that is an error).")] = False,
                ) -> None:
    """Import runs (all or nothing; re-importing adds nothing; a different score is an error)."""
    result = service().import_file(path, replace=replace)
    replaced = f", {result.replaced} replaced" if result.replaced else ""
    console.print(f"imported {result.inserted} runs ({result.duplicates} already in the store{replaced})")
    for note in result.warnings:
        console.print(f"[yellow]note:[/] {note}", highlight=False)


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
    page = service().list_runs(limit=limit, offset=offset,
                               **_filters(target_task, target_language, source_task, source_language, dataset,
                                          model))
    if fmt is Format.json:
        print_json(page)
        return
    table = Table("dataset", "model", "target", "source", "score", "baseline", title=f"{page['total']} runs")
    for r in page["runs"]:
        table.add_row(r["dataset"], r["model"], f"{r['target_task']}/{r['target_language']}",
                      f"{r['source_task']}/{r['source_language']}", f"{r['score']:g}",
                      "–" if r["baseline_score"] is None else f"{r['baseline_score']:g}")
    console.print(table)
    for note in page.get("notes") or []:
        console.print(f"note: {note}", highlight=False, markup=False)


@runs_app.command("delete")
@handle_errors
def runs_delete(target_task: FilterOpt = None, target_language: FilterOpt = None, source_task: FilterOpt = None,
                source_language: FilterOpt = None, dataset: FilterOpt = None, model: FilterOpt = None,
                yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
                ) -> None:
    """Delete the runs matching the filters (at least one filter; asks first unless --yes)."""
    from feature_store.errors import InvalidRequest

    filters = _filters(target_task, target_language, source_task, source_language, dataset, model)
    if not any(filters.values()):
        raise InvalidRequest("runs delete needs at least one filter (e.g. --dataset NAME)")
    svc = service()
    n = svc.count_runs(**filters)
    if n == 0:
        console.print("no run matches: nothing deleted")
        return
    if not yes and not typer.confirm(f"delete {n} runs?", default=False):
        console.print("nothing deleted")
        raise typer.Exit(1)
    deleted = svc.delete_runs(expected=n, **filters)
    console.print(f"deleted {deleted} runs")


@runs_app.command("export")
@handle_errors
def runs_export(target_task: FilterOpt = None, target_language: FilterOpt = None,
                source_task: FilterOpt = None, source_language: FilterOpt = None, dataset: FilterOpt = None,
                model: FilterOpt = None,
                out: Annotated[Path | None, typer.Option(help="File to write (default: stdout).")] = None) -> None:
    """Export runs as CSV in the run schema."""
    import io
    import sys

    from feature_store.paths import atomic_write_bytes

    filters = _filters(target_task, target_language, source_task, source_language, dataset, model)
    if out is None:
        service().export_runs(sys.stdout, **filters)
        return
    buf = io.StringIO()
    n = service().export_runs(buf, **filters)
    atomic_write_bytes(out, buf.getvalue().encode())
    err_console.print(f"wrote {n} runs to {out}")


