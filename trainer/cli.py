"""``stepstone train cell|plan|matrix``: the trainer's Typer commands.

Mounted by the main CLI as ``stepstone train``; also ``python -m trainer`` and, for several GPUs,
``torchrun --nproc_per_node N -m trainer cell ...``. Nothing heavy is imported at module level:
torch and transformers load inside the commands, so ``stepstone --help`` stays fast.
Errors are ``StepstoneError``s, which the main CLI prints as ``Error: ...`` (exit code 1).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from trainer.world import is_main_process

app = typer.Typer(
    help="Train and evaluate transfer cells (X-STILTs pipeline) and write them as runs.", no_args_is_help=True
)


# What `pip install -e ".[train]"` brings and the training commands import.
TRAIN_MODULES = ("torch", "transformers", "accelerate", "tokenizers", "seqeval")


def require_train_extra(modules: tuple[str, ...] = TRAIN_MODULES) -> None:
    """A clear error instead of an ImportError traceback when the train extra is not installed."""
    from feature_store.errors import InvalidRequest

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise InvalidRequest('the trainer needs the train extra: pip install -e ".[train]"')


def _languages(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


@app.command()
def cell(
    model: Annotated[Path, typer.Option(help="Local Hugging Face model folder (nothing is downloaded).")],
    data: Annotated[Path, typer.Option(help="Data folder: <task>/<split>-<lang>.jsonl or XTREME files.")],
    target_task: Annotated[str, typer.Option(help="Target task, e.g. xnli, udpos, xquad, tatoeba.")],
    languages: Annotated[str, typer.Option(help="Comma-separated target languages, e.g. swa,yor.")],
    source_task: Annotated[str, typer.Option(help="Intermediate task; a+b for multi-task; none = baseline.")] = "none",
    source_language: Annotated[str, typer.Option(help="Language of the intermediate data.")] = "eng",
    intermediate_size: Annotated[int | None, typer.Option(help="Subsample the intermediate data to N.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for heads, data order and subsampling.")] = 1,
    out: Annotated[Path, typer.Option(help="Artefacts and checkpoints go under OUT/<cell id>/.")] = Path(
        "stepstone-train"
    ),
    dataset: Annotated[str, typer.Option(help="The runs' dataset column.")] = "stepstone-trainer",
    config: Annotated[Path | None, typer.Option(help="TOML file whose [train] table sets Trainer knobs.")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Stop each training phase after N updates.")] = None,
    max_train_samples: Annotated[int | None, typer.Option(help="Cap each training set.")] = None,
    max_eval_samples: Annotated[int | None, typer.Option(help="Cap each evaluation set.")] = None,
    resume: Annotated[bool, typer.Option(help="Skip if stored; reuse finished phases and checkpoints.")] = False,
) -> None:
    """Phase 1 on SOURCE_TASK, phase 2 on TARGET_TASK in English, phase 3 zero-shot per language."""
    import dataclasses

    require_train_extra()

    from trainer.config import CellConfig, load_train_config

    train = load_train_config(config)
    overrides: dict[str, Any] = {
        "max_steps": max_steps,
        "max_train_samples": max_train_samples,
        "max_eval_samples": max_eval_samples,
    }
    train = dataclasses.replace(train, **{k: v for k, v in overrides.items() if v is not None})
    cfg = CellConfig(
        model=model,
        data=data,
        target_task=target_task,
        languages=_languages(languages),
        source_task=source_task,
        source_language=source_language,
        intermediate_size=intermediate_size,
        seed=seed,
        out=out,
        dataset=dataset,
        resume=resume,
        train=train,
    )
    from feature_store.runs.store import RunStore
    from trainer.cell.run import run_cell

    with RunStore() as store:
        result = run_cell(cfg, store)
    if not is_main_process():
        return
    if result.skipped:
        typer.echo(f"{result.cell_id}: every run is already in the store; skipped")
        return
    for name, check in result.dev.items():
        typer.echo(f"English dev after {name}: {check['metric']} {check['score']:.2f} (chance {check['chance']:.2f})")
    for lang, score in result.scores.items():
        typer.echo(f"{lang}\t{score:.2f}")
    for message in result.warnings:
        typer.secho(message, err=True, fg=typer.colors.RED, bold=True)
    typer.echo(f"{len(result.runs)} runs written; artefact {result.artefact}")


@app.command()
def plan(
    config: Annotated[Path, typer.Option(help="Matrix TOML: models, source/target tasks, languages, seeds.")],
    format: Annotated[str, typer.Option(help="json or table.")] = "table",
    shard: Annotated[str | None, typer.Option(help="Only the i-th of n disjoint slices, e.g. 2/4.")] = None,
    tokens_per_s: Annotated[
        float | None,
        typer.Option(help="Training tokens/s of one job for the GPU-hour estimates (default: the measured rates)."),
    ] = None,
) -> None:
    """Print the matrix's jobs (phase, dependencies, estimated GPU-hours); reads no data, loads no torch."""
    import json

    from trainer.config import load_matrix, parse_shard
    from trainer.matrix import graph

    if format not in ("json", "table"):
        from feature_store.errors import InvalidRequest

        raise InvalidRequest(f"--format must be json or table, got {format!r}")
    index, count = parse_shard(shard)
    jobs = graph.build_graph(load_matrix(config), tokens_per_s)  # None: the measured rates
    jobs = graph.shard(jobs, index, count)
    if format == "json":
        typer.echo(json.dumps(graph.to_json(jobs), indent=2))
        return
    from rich.console import Console

    from trainer.matrix.console import plan_table

    Console().print(plan_table(jobs))


@app.command()
def matrix(
    config: Annotated[Path, typer.Option(help="Matrix TOML: models, source/target tasks, languages, seeds.")],
    shard: Annotated[str | None, typer.Option(help="Run the i-th of n disjoint slices, e.g. 2/4.")] = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume/--fresh",
            help="Skip finished jobs and resume from checkpoints (default), "
            "or delete the shard's results and checkpoints first.",
        ),
    ] = True,
    engine: Annotated[str, typer.Option(help="local (one job after another) or ray.")] = "local",
    address: Annotated[
        str | None, typer.Option(help="Ray cluster to join (auto, ray://host:10001); default: start one here.")
    ] = None,
    gpus_per_job: Annotated[
        float | None, typer.Option(help="GPUs per job under Ray; 0.25 packs 4 jobs a GPU (default: 1 if any).")
    ] = None,
    cpus_per_job: Annotated[float, typer.Option(help="CPUs per job under Ray.")] = 1.0,
    retries: Annotated[int, typer.Option(help="Ray: restarts of a job whose worker died.")] = 3,
    import_runs: Annotated[
        bool | None,
        typer.Option(
            "--import/--no-import",
            help="Import the runs into the store at the end (default: when the store is on a local disk).",
        ),
    ] = None,
) -> None:
    """Run the matrix's jobs (or one shard of them) and import their runs into the store."""
    from rich.console import Console

    from feature_store.runs.store import RunStore
    from trainer.config import load_matrix, parse_shard
    from trainer.matrix import graph
    from trainer.matrix.console import advance, failures_table, progress_bar, summary_table
    from trainer.matrix.engine import JobsFailed
    from trainer.matrix.graph import Job
    from trainer.matrix.run import run_matrix

    require_train_extra()
    index, count = parse_shard(shard)
    spec = load_matrix(config)
    total = len(graph.shard(graph.build_graph(spec), index, count))
    console = Console()

    def announce(k: int, n: int, job: Job) -> None:
        if is_main_process():
            console.log(f"[{k}/{n}] phase {job.phase}: {job.label}")

    with RunStore() as store, progress_bar(console, total, "jobs", disable=not is_main_process()) as bar:

        def done(outcome: Any) -> None:
            advance(bar, outcome)

        try:
            report = run_matrix(
                spec,
                engine=engine,
                index=index,
                count=count,
                fresh=not resume,
                store=store,
                import_runs=import_runs,
                address=address,
                gpus_per_job=gpus_per_job,
                cpus_per_job=cpus_per_job,
                retries=retries,
                on_start=announce,
                on_done=done,
            )
        except JobsFailed as exc:
            report = exc.report  # type: ignore[attr-defined]
            console.print(summary_table(report.outcomes), failures_table(report.outcomes))
            raise
    if not is_main_process():
        return
    console.print(summary_table(report.outcomes))
    written = report.imported.inserted if report.imported else 0
    stored = (
        f" ({report.imported.duplicates} already in the store)"
        if report.imported and report.imported.duplicates
        else ""
    )
    typer.echo(f"{report.cells_run} cells run, {report.cells_skipped} skipped, {written} runs written{stored}")
    if report.import_error:
        typer.echo(
            f"warning: the store refused the runs ({report.import_error}); they are in {spec.out}/jobs: fix, then "
            f"`stepstone runs import-results {spec.out}`",
            err=True,
        )
    elif report.imported is None:
        typer.echo(f"runs left in {spec.out}/jobs: import them with `stepstone runs import-results {spec.out}`")


@app.command()
def score(
    task: Annotated[str, typer.Option(help="Task id, e.g. udpos, panx, xquad, mlqa, xnli.")],
    gold: Annotated[Path, typer.Option(help="Gold file in a layout the trainer reads (CoNLL-U, tsv, SQuAD JSON).")],
    predictions: Annotated[Path, typer.Option(help="Tags per token line, {id: answer} JSON, or a label per line.")],
    language: Annotated[str, typer.Option(help="Language of the gold file (MLQA's normalisation).")] = "eng",
    format: Annotated[str, typer.Option(help="Output: text or json.")] = "text",
) -> None:
    """Score a predictions file with exactly the metric the trainer uses (no torch)."""
    from feature_store.errors import InvalidRequest
    from trainer.score import score_file

    if format not in ("text", "json"):
        raise InvalidRequest(f"--format must be text or json, got {format!r}")
    require_train_extra(("seqeval",))
    result = score_file(task, gold, predictions, language)
    if format == "json":
        typer.echo(json.dumps(result, indent=2))
        return
    subs = ", ".join(f"{k} {result[k]:.2f}" for k in ("f1", "exact_match", "accuracy") if k in result)
    typer.echo(
        f"{result['task']} {result['language']}: {result['metric']} {result['score']:.2f} ({subs}; "
        f"{result['examples']} examples)"
    )


@app.command()
def cells(
    folder: Annotated[Path, typer.Argument(help="A matrix's out folder (or a cell's).")],
    out: Annotated[Path | None, typer.Option(help="CSV file to write (default: stdout).")] = None,
) -> None:
    """One row per phase-1 training and per cell: English dev vs chance, wall time, tokens/s (no torch)."""
    from feature_store.errors import InvalidRequest
    from feature_store.paths import atomic_write_bytes
    from trainer.matrix.summary import cell_rows, to_csv

    if not folder.is_dir():
        raise InvalidRequest(f"no such folder: {folder}")
    rows = cell_rows(folder)
    if not rows:
        raise InvalidRequest(f"no finished cell or phase-1 training under {folder}")
    text = to_csv(rows)
    if out is None:
        typer.echo(text, nl=False)
    else:
        atomic_write_bytes(out, text.encode())
        typer.echo(f"wrote {len(rows)} rows to {out}", err=True)


@app.command()
def export(
    folder: Annotated[Path, typer.Argument(help="A matrix's out folder.")],
    out: Annotated[Path, typer.Option(help="CSV file to write, in the run schema.")],
    dataset: Annotated[str | None, typer.Option(help="Only the runs of this dataset.")] = None,
) -> None:
    """The runs of every finished job as CSV, baselines filled, without touching the store (no torch)."""
    import io

    from feature_store.errors import InvalidRequest
    from feature_store.paths import atomic_write_bytes
    from feature_store.runs.files import runs_to_csv
    from trainer.matrix.results import fill_baselines, read_results

    jobs, runs = read_results(folder)
    runs, _ = fill_baselines(runs)
    runs = [r for r in runs if dataset is None or r.dataset == dataset]
    if not runs:
        raise InvalidRequest(
            f"no runs{f' of dataset {dataset!r}' if dataset else ''} in the {jobs} finished jobs of {folder}"
        )
    buf = io.StringIO()
    runs_to_csv(runs, buf)
    atomic_write_bytes(out, buf.getvalue().encode())
    typer.echo(f"wrote {len(runs)} runs of {jobs} finished jobs to {out}", err=True)
