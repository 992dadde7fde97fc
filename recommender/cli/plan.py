"""``stepstone plan``: which cells to measure next, and the trainer config that measures them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from recommender.cli.common import CandidateKind, Format, app, console, handle_errors, print_json, service


def _languages(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _hours(value: Any) -> str:
    return "?" if value is None else f"{value:.3f}"


def write_configs(result: dict[str, Any], out: Path, *, data: str, model_dir: str, train_out: str,
                  dataset: str) -> list[Path]:
    """The plan's matrix configs: ``out`` for the first grid, ``<stem>-language.toml`` for a second."""
    from feature_store.errors import InvalidRequest
    from recommender.planning.matrix import to_toml

    grids = result["matrix"]
    if not grids:
        raise InvalidRequest("the plan has no cells: no config written")
    q = result["query"]
    written = []
    for i, grid in enumerate(grids):
        path = out if i == 0 else out.with_name(f"{out.stem}-{grid['kind']}{out.suffix or '.toml'}")
        header = [f"stepstone plan --task {q['task']} --languages {','.join(q['languages'])}: "
                  f"{grid['kind']} cells, model {result['model_version']}",
                  "Run: stepstone train plan --config <this file>, then stepstone train matrix --config <this file>"]
        path.write_text(to_toml(grid, data=data, model=model_dir, out=train_out, dataset=dataset, header=header),
                        encoding="utf-8")
        written.append(path)
    return written


@app.command()
@handle_errors
def plan(
    task: Annotated[str, typer.Option("--task", "-t", help="Target task id, e.g. udpos.")],
    languages: Annotated[str, typer.Option("--languages", "-l", help="Comma-separated target languages.")],
    budget: Annotated[int | None, typer.Option(help="How many cells to propose (1..100).")] = None,
    gpu_hours: Annotated[float | None, typer.Option(help="Propose what this many GPU-hours pay for.")] = None,
    candidates: Annotated[CandidateKind, typer.Option(help="Which sources to consider.")] = CandidateKind.all,
    model: Annotated[str | None, typer.Option(help="Runs of this model count as measured (default: any).")] = None,
    tokens_per_second: Annotated[float | None, typer.Option(
        help="Training throughput for the cost estimates (default 180000, a projection).")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table or json (the REST body).")] = Format.table,
    out: Annotated[Path | None, typer.Option(help="Write the trainer's matrix config (TOML) here.")] = None,
    data: Annotated[str, typer.Option(help="Data folder written into the config.")] = "data",
    model_dir: Annotated[str, typer.Option(help="Model folder written into the config.")] =
        "models/xlm-roberta-large",
    train_out: Annotated[str, typer.Option(help="Output folder written into the config.")] = "stepstone-train",
    dataset: Annotated[str, typer.Option(help="The runs' dataset column, written into the config.")] =
        "stepstone-plan",
) -> None:
    """Propose the unmeasured cells worth measuring next, with their value and GPU-hour cost."""
    result = service().plan(task, _languages(languages), candidates=candidates.value, budget=budget,
                            gpu_hours=gpu_hours, tokens_per_second=tokens_per_second, model=model)
    written = write_configs(result, out, data=data, model_dir=model_dir, train_out=train_out,
                            dataset=dataset) if out is not None else []
    if fmt is Format.json:
        print_json(result)
        return
    q, s = result["query"], result["summary"]
    limit = f"budget {q['budget']} cells" if q["budget"] is not None else f"{q['gpu_hours']:g} GPU-hours"
    table = Table(title=f"plan for {q['task']} → {', '.join(q['languages'])} ({limit}) · model "
                        f"{result['model_version']}")
    table.add_column("#", justify="right")
    table.add_column("language", no_wrap=True)
    table.add_column("source (task · language)", overflow="fold")
    table.add_column("kind", no_wrap=True)
    table.add_column("pred. gain", justify="right", no_wrap=True)
    table.add_column("exp. improvement", justify="right", no_wrap=True)
    table.add_column("adds", justify="right", no_wrap=True)
    table.add_column("P(better)", justify="right", no_wrap=True)
    table.add_column("GPU-h", justify="right", no_wrap=True)
    for c in result["cells"]:
        table.add_row(str(c["rank"]), c["target_language"], f"{c['source_task']} · {c['source_language']}", c["kind"],
                      f"{c['predicted_gain']:+.1f}", f"{c['expected_improvement']:.2f}", f"{c['batch_value']:.2f}",
                      f"{c['p_better']:.0%}", _hours(c["marginal_gpu_hours"]))
    console.print(table)
    for c in result["cells"]:
        for reason in c["why"]:
            console.print(f"  {c['rank']}. {reason}", highlight=False, markup=False)
    console.print(f"{s['cells']} cells, {s['trainings']} trainings, {_hours(s['gpu_hours'])} GPU-hours at "
                  f"{q['tokens_per_second']:,.0f} tokens/s; expected improvement {s['expected_improvement']:.2f} "
                  f"points in all; {s['open_cells']} unmeasured cells considered", highlight=False)
    for path in written:
        console.print(f"wrote {path}", highlight=False, markup=False)
    for w in result["warnings"]:
        console.print(f"[yellow]warning:[/] {w}", highlight=False)
