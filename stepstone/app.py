"""The ``stepstone`` command line in full: the recommender's commands, ``stepstone train ...`` (the
trainer's), ``stepstone serve`` (the API) and ``stepstone runs import-results`` (a matrix's runs into
the store). ``stepstone.cli`` is the entry point: it answers ``recommend … --format json`` from the
answer table when it can (``stepstone.fast``) and hands every other command line to ``app``.

Each half keeps its own Typer app (``recommender.cli``, ``trainer.cli``); this module copies their
commands into one app rather than changing theirs. Heavy modules load inside the commands, so
``stepstone --help`` is quick and nothing but ``train`` imports torch.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated

import typer

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
          workers: Annotated[int, typer.Option(help="Worker processes; each follows the `current` pointer "
                                                   "(two: one per core of a small machine).")] = 2,
          ) -> None:
    """Serve the REST API (OpenAPI docs at /docs)."""
    import os

    from feature_store.paths import home
    from recommender.answers.table import current_version, table_path
    from recommender.jobs import BACKGROUND, prepare_answers_in_child
    from stepstone.fast import revision

    version, rev = current_version(home()), revision()
    if version is None or rev is None or not table_path(home() / "answers", version, rev).is_file():
        try:  # the default model and the answer table, in a child: this process holds no model for its life
            from recommender.service import answers_job

            prepare_answers_in_child(home(), answers_job, wait=True)
        except RuntimeError:  # the same here, so that the error is reported as the library words it
            svc = service()
            svc.live()
            svc.prepare_answers()
    os.environ[BACKGROUND] = "1"  # the workers rebuild a table the store or an activation retired
    if not os.environ.get("STEPSTONE_API_TOKEN"):
        console.print("writes are open to clients on this machine (STEPSTONE_API_TOKEN is not set); "
                      "cross-origin and remote writes are refused", highlight=False)
    # The server's read timeouts and connection limits (``api.server``); the workers import the app
    # factory by its import string, so this process need not import the app.
    from api.server import serve as serve_api

    serve_api(host, port, workers=workers)


_mount_trainer()
