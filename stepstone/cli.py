"""The ``stepstone`` entry point: ``recommend … --format json`` answered like a script, everything else by
the full command line (``stepstone.app``).

A JSON recommendation for a (task, language) in the answer table (``recommender.answers.table``) of
the live model version and the store's revision is a lookup: ``stepstone.fast`` reads it with the
standard library, without importing Typer, rich, numpy, LightGBM, pydantic or langcodes. Any other
command line, and any query the table does not hold, goes to the full CLI, which answers it (or
reports its error) as before.
"""

from __future__ import annotations

import sys
from typing import Any


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; a ``StepstoneError`` outside a command becomes ``Error: ...`` and exit code 1."""
    args = sys.argv[1:] if argv is None else list(argv)
    from stepstone.fast import answer

    if answer(args):
        return 0
    import typer

    from feature_store.errors import StepstoneError
    from stepstone.app import app

    try:
        app(args=args, prog_name="stepstone")
    except StepstoneError as exc:
        typer.echo(f"Error: {exc}", err=True)
        return 1
    except SystemExit as exc:  # click ends every run, --help and usage errors included, this way
        return exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    return 0


def __getattr__(name: str) -> Any:
    """``stepstone.cli.app``: the full Typer app, imported on first use."""
    if name == "app":
        from stepstone.app import app

        return app
    raise AttributeError(name)
