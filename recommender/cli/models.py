"""``stepstone init | retrain | models | activate``: model versions (``serve`` is ``stepstone.cli``'s)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from recommender.cli.common import Format, app, console, handle_errors, print_json, service


@app.command()
@handle_errors
def init() -> None:
    """Seed the run store with the shipped data, build the feature cache and the default model."""
    svc = service()
    live = svc.ensure_model()  # a model built by another version of stepstone is rebuilt here
    console.print(f"store: {svc.store.count()} runs · model {live.version} "
                  f"({live.meta.get('queries')} queries)")


@app.command()
@handle_errors
def retrain() -> None:
    """Train a new model version on every run in the store, evaluate it and make it current."""
    info = service().retrain()
    metrics = (info.get("evaluation") or {}).get("metrics") or {}
    console.print(f"model {info['version']}: {info['queries']} queries, {info['rows']} rows, "
                  f"{info['train_seconds']} s; in-sample top-1 loss {metrics.get('top1_loss_pct')} %")


@app.command()
@handle_errors
def models(fmt: Annotated[Format, typer.Option("--format")] = Format.table) -> None:
    """Registered model versions, oldest first."""
    rows = service().models()
    if fmt is Format.json:
        print_json(rows)
        return
    table = Table("version", "current", "created", "runs", "queries", "train s")
    for r in rows:
        table.add_row(r["version"], "●" if r["current"] else "", str(r.get("created_at", r.get("error"))),
                      str(r.get("runs")), str(r.get("queries")), str(r.get("train_seconds")))
    console.print(table)


@app.command()
@handle_errors
def activate(version: Annotated[str, typer.Argument(help="A registered version, e.g. v0003.")]) -> None:
    """Verify a version and make it the live one (a running server follows within a second)."""
    info = service().activate(version)
    console.print(f"model {info['version']} is current")
