"""``stepstone evaluate``: cross-validated metrics of the ranker and the baselines, per setting.

Imported by ``recommender.cli`` when present; heavy modules load inside the command so that
``stepstone --help`` stays fast.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from recommender.cli.common import app, console, err_console, handle_errors, print_json, service


class Split(StrEnum):
    lolo = "lolo"
    lofo = "lofo"
    loto = "loto"


class ReportFormat(StrEnum):
    table = "table"
    json = "json"
    md = "md"


@app.command()
@handle_errors
def evaluate(
    runs: Annotated[list[Path] | None, typer.Option(
        "--runs", help="Evaluate these .csv/.jsonl run files only (the store is not touched). Repeatable.")] = None,
    split: Annotated[Split, typer.Option(help="lolo: leave one target language out; lofo: one language "
                                              "family; loto: one target task.")] = Split.lolo,
    exclude_self: Annotated[bool, typer.Option(
        "--exclude-self/--include-self", help="Drop the in-language source from every query.")] = True,
    ablations: Annotated[bool, typer.Option(
        "--ablations", help="Also train on one feature group at a time (linguistic, task, resource, all).")] = False,
    fmt: Annotated[ReportFormat, typer.Option("--format", help="table, json (one object on stdout) or md "
                                                               "(report + plot in --out).")] = ReportFormat.table,
    out: Annotated[Path, typer.Option(help="Folder for the md report and its plot.")] = Path("evaluation"),
    jobs: Annotated[int, typer.Option("--jobs", min=1, help="Folds run in parallel on this many processes.")] = 2,
) -> None:
    """Cross-validate the ranker against the baselines (ndcg@3, top-1 loss, regret, spearman, gain MAE)."""
    options: dict[str, Any] = {"split": split.value, "exclude_self": exclude_self, "ablations": ablations,
                               "n_jobs": jobs}
    if runs:  # files only: the store is not opened
        from feature_store.runs.files import read_runs
        from recommender.evaluation.crossval import evaluate_runs

        result = evaluate_runs([r for path in runs for r in read_runs(path)], **options)
    else:
        result = service().evaluate(**options)
    if fmt is ReportFormat.json:
        print_json(result)
        return
    if fmt is ReportFormat.md:
        from recommender.evaluation.evaluate_report import write_report

        path = write_report(result, out)
        err_console.print(f"wrote {path} and {path.with_name('top1_loss.png')}")
        return
    _print_table(result)


def _print_table(result: dict) -> None:  # type: ignore[type-arg]
    from rich.table import Table

    for s in result["settings"]:
        table = Table("method", "ndcg@3", "top-1 loss %", "regret@1", "regret@3", "spearman", "gain MAE",
                      title=f"{s['target_task']} · {s['dataset']} · {s['model']} · {s['queries']} queries "
                            f"({result['split']}, self {'excluded' if result['exclude_self'] else 'included'})")
        rows = [("ranker", s["ranker"]), *s["baselines"].items(),
                *((f"ablation: {k}", v) for k, v in s["ablations"].items())]
        for name, m in rows:
            table.add_row(name, *(_cell(m.get(k)) for k in ("ndcg@3", "top1_loss_pct", "regret@1", "regret@3",
                                                            "spearman", "gain_mae")))
        console.print(table)
        if s.get("intermediate"):
            from recommender.evaluation.intermediate import COLUMNS, table_rows

            inter = s["intermediate"]
            table = Table("method", *COLUMNS, "low-res. top-1 loss %", "low-res. ndcg@3",
                          title=f"{s['target_task']}: the intermediate decision on {inter['queries']} held-out "
                                f"queries ({inter['low_resource_queries']} low-resource); neighbours answers "
                                "`recommend --candidates intermediate`")
            for row in table_rows(inter):
                table.add_row(*row)
            console.print(table)
    cov = result.get("evidence_coverage") or {}
    if cov:
        table = Table("evidence", "coverage", "nominal", "rows", "how",
                      title="Interval coverage per evidence level (held out)")
        for name, v in cov.items():
            table.add_row(name, _cell(v["coverage"]), f"{v['nominal']:.2f}", str(v["rows"]), v["how"])
        console.print(table)
    rows = result.get("multilingual_vs_english") or []
    if rows:
        table = Table("language", "pairs", "multilingual − English-only", "multilingual higher",
                      "multilingual gain over none", "target tasks",
                      title="Multilingual vs English-only intermediate data, per target language (measured runs)")
        for r in rows:
            table.add_row(f"{r['name']} ({r['language']})", str(r["pairs"]),
                          "–" if r["ml_minus_en"] is None else f"{r['ml_minus_en']:+.2f}",
                          "–" if r["ml_wins"] is None else f"{r['ml_wins']:.0%}",
                          "–" if r["ml_gain"] is None else f"{r['ml_gain']:+.2f}", ", ".join(r["settings"]))
        console.print(table)
    console.print(f"{result['seconds']} s")


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"
