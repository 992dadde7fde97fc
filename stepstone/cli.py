"""The ``stepstone`` command line: the recommender's commands, ``stepstone train ...`` (the trainer's),
``stepstone serve`` (the API) and ``stepstone runs import-results`` (a matrix's runs into the store).

Each half keeps its own Typer app (``recommender.cli``, ``trainer.cli``); this module copies their
commands into one app rather than changing theirs. Heavy modules load inside the commands, so
``stepstone --help`` is quick and nothing but ``train`` imports torch.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated

import typer

from feature_store.errors import StepstoneError
from recommender.cli import app as recommender_app
from recommender.cli.common import console, handle_errors, service

app = typer.Typer(help=recommender_app.info.help, no_args_is_help=True, add_completion=False)
runs_app = typer.Typer(help="Import, list and export measured runs.", no_args_is_help=True)


def _mount_recommender() -> None:
    """Every recommender command and group; its ``runs`` group gains ``import-results`` here."""
    app.registered_commands.extend(recommender_app.registered_commands)
    for group in recommender_app.registered_groups:
        if group.name == "runs" and group.typer_instance is not None:
            runs_app.registered_commands.extend(group.typer_instance.registered_commands)
            app.add_typer(runs_app, name="runs")
        else:
            app.registered_groups.append(group)


_mount_recommender()  # first, so that the commands below come after the recommender's in --help


def _mount_trainer() -> None:
    """``stepstone train …``: the trainer's commands (they import torch only when they run)."""
    try:
        from trainer.cli import app as train_app
    except ImportError:
        return
    commands = typer.Typer(help="Run the GPU trainer (needs the `train` extra).", no_args_is_help=True)
    for command in train_app.registered_commands:
        if command.callback is not None:  # a copy: the trainer's own app stays as it is
            mounted = copy.copy(command)
            mounted.callback = handle_errors(command.callback)
            commands.registered_commands.append(mounted)
    app.add_typer(commands, name="train")


@runs_app.command("import-results")
@handle_errors
def runs_import_results(out: Annotated[Path, typer.Argument(help="A training matrix's OUT folder.")]) -> None:
    """Import the runs of every finished job of a training matrix (idempotent; fills baselines)."""
    from stepstone.results import import_matrix_results

    result = import_matrix_results(service(), out)
    console.print(f"{result.jobs} finished jobs: imported {result.inserted} runs "
                  f"({result.duplicates} already in the store)", highlight=False)


@app.command()
@handle_errors
def serve(host: str = "127.0.0.1", port: int = 8000,
          workers: Annotated[int, typer.Option(help="Worker processes; each follows the `current` pointer.")] = 1,
          ) -> None:
    """Serve the REST API (OpenAPI docs at /docs)."""
    import os

    import uvicorn

    from api.app import create_app

    service().live()  # build the default model before the server takes requests
    if not os.environ.get("STEPSTONE_API_TOKEN"):
        console.print("writes are open to clients on this machine (STEPSTONE_API_TOKEN is not set); "
                      "cross-origin and remote writes are refused", highlight=False)
    # Several workers each import the factory themselves, which uvicorn only does from an import
    # string; the string is taken from the imported function, so a rename cannot leave it stale.
    target = f"{create_app.__module__}:{create_app.__qualname__}" if workers > 1 else create_app
    uvicorn.run(target, factory=True, host=host, port=port, workers=workers, log_level="warning", access_log=False)


_mount_trainer()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; a ``StepstoneError`` outside a command becomes ``Error: ...`` and exit code 1."""
    try:
        app(args=argv, prog_name="stepstone")
    except StepstoneError as exc:
        typer.echo(f"Error: {exc}", err=True)
        return 1
    except SystemExit as exc:  # click ends every run, --help and usage errors included, this way
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    return 0
