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
        app(args=argv, prog_name="python -m trainer", standalone_mode=False)
    except StepstoneError as exc:
        typer.echo(f"Error: {exc}", err=True)
        return 1
    except SystemExit as exc:  # --help and usage errors
        return int(exc.code or 0)
    except typer.Exit as exc:
        return exc.exit_code
    except Exception as exc:  # click's usage errors in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
