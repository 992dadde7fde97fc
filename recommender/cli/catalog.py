"""``stepstone languages`` and ``stepstone tasks``: what the store and the task registry know."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from recommender.cli.common import Format, app, console, handle_errors, print_json, service


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
        for col in ("task", "format", "level", "train", "classes", "en", "headroom", "target runs",
                    "intermediate runs"):
            table.add_column(col, no_wrap=True, justify="left" if col in ("task", "format", "level") else "right")
        for r in (r for r in rows if r["kind"] == kind):
            table.add_row(r["id"], r["format"], r["level"],
                          "–" if r["train_size"] is None else f"{r['train_size']:,}",
                          "–" if r["num_classes"] is None else str(r["num_classes"]),
                          "–" if r["english_score"] is None else f"{r['english_score']:g}",
                          "–" if r["headroom"] is None else f"{r['headroom']:.2f}", str(r["target_runs"]),
                          str(r["intermediate_runs"]))
        console.print(table)


