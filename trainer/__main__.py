"""``python -m trainer`` and ``torchrun --nproc_per_node N -m trainer cell ...``.

torchrun starts N copies of this module with RANK / LOCAL_RANK / WORLD_SIZE set; the Hugging Face
Trainer reads them and trains with DDP, and only rank 0 writes runs and artefacts.
"""

from __future__ import annotations

import sys

import typer

from feature_store.errors import StepstoneError
from trainer.cli import app


def main(argv: list[str] | None = None) -> int:
    """Run the trainer CLI; a StepstoneError becomes ``Error: ...`` and exit code 1."""
    try:
        app(args=argv, prog_name="python -m trainer")
    except StepstoneError as exc:
        typer.echo(f"Error: {exc}", err=True)
        return 1
    except SystemExit as exc:  # click ends every run, --help and usage errors included, this way
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
