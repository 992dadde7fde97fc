"""``stepstone train cell|matrix``: the trainer's Typer commands.

Mounted by the main CLI as ``stepstone train``; also ``python -m trainer`` and, for several GPUs,
``torchrun --nproc_per_node N -m trainer cell ...``. Nothing heavy is imported at module level:
torch and transformers load inside the commands, so ``stepstone --help`` stays fast.
Errors are ``StepstoneError``s, which the main CLI prints as ``Error: ...`` (exit code 1).
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from trainer.config import CellConfig

app = typer.Typer(
    help="Train and evaluate transfer cells (X-STILTs pipeline) and write them as runs.", no_args_is_help=True
)


def _rank_zero() -> bool:
    """Under torchrun only rank 0 reports (torchrun sets RANK)."""
    return int(os.environ.get("RANK", "0")) == 0


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
    from feature_store.runs import RunStore
    from trainer.cell import run_cell

    with RunStore() as store:
        result = run_cell(cfg, store)
    if not _rank_zero():
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
def matrix(
    config: Annotated[Path, typer.Option(help="Matrix TOML: models, source/target tasks, languages, seeds.")],
    shard: Annotated[str | None, typer.Option(help="Run the i-th of n disjoint slices, e.g. 2/4.")] = None,
    resume: Annotated[bool, typer.Option(help="Skip cells already in the store; resume checkpoints.")] = False,
) -> None:
    """Run every cell of a matrix config (or one shard of it)."""
    from trainer.config import load_matrix, parse_shard

    require_train_extra()
    index, count = parse_shard(shard)
    spec = load_matrix(config)
    from feature_store.runs import RunStore
    from trainer.matrix import run_matrix

    def announce(k: int, n: int, cell: CellConfig) -> None:
        if _rank_zero():
            typer.echo(f"[{k}/{n}] {cell.target_task} <- {cell.source_task} (seed {cell.seed})")

    with RunStore() as store:
        report = run_matrix(spec, index=index, count=count, resume=resume, store=store, on_cell=announce)
    if _rank_zero():
        typer.echo(f"{len(report.ran)} cells run, {len(report.skipped)} skipped, {report.runs} runs written")


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
    typer.echo(f"{result['task']} {result['language']}: {result['metric']} {result['score']:.2f} ({subs}; "
               f"{result['examples']} examples)")
