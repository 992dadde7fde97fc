"""The ``stepstone`` command line: thin commands over ``recommender.service``.

Each command calls one Service method; a ``StepstoneError`` becomes ``Error: …`` on stderr and
exit code 1. One module per command group; heavy modules (LightGBM, torch, matplotlib) are
imported inside commands, so ``--help`` is quick and nothing but ``train`` ever imports torch.
"""

from __future__ import annotations

from recommender.cli import catalog, evaluate, models, plan, recommend, report, runs  # noqa: F401  (registers commands)
from recommender.cli.common import app, handle_errors


def _mount_trainer() -> None:
    """``stepstone train …``: the trainer's commands (they import torch only when they run)."""
    try:
        from trainer.cli import app as train_app
    except ImportError:
        return
    for command in train_app.registered_commands:
        if command.callback is not None:
            command.callback = handle_errors(command.callback)
    app.add_typer(train_app, name="train", help="Run the GPU trainer (needs the `train` extra).")


_mount_trainer()


def main() -> None:
    app()


__all__ = ["app", "main"]
