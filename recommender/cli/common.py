"""What every command shares: the Typer app, consoles, error handling, output formats, the Service."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console

from feature_store.errors import StepstoneError

if TYPE_CHECKING:
    from recommender.service import Service

app = typer.Typer(help="Which intermediate task or source language to train on before zero-shot "
                       "cross-lingual transfer.", no_args_is_help=True, add_completion=False)
# Piped output (and tests) get a fixed, roomy width instead of rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 120)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)
F = TypeVar("F", bound=Callable[..., Any])


def handle_errors(func: F) -> F:
    """Turn the library's errors into ``Error: …`` and exit code 1; under ``--format json`` (or
    ``--json``) into a JSON object ``{"error": {"code", "detail", …}}`` on stdout, still exit 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except StepstoneError as exc:
            if kwargs.get("fmt") == Format.json or kwargs.get("json_out") is True:
                err: dict[str, Any] = {"code": exc.code, "detail": str(exc)}
                if hasattr(exc, "suggestions"):
                    err.update(value=getattr(exc, "value", None), suggestions=list(exc.suggestions))
                print_json({"error": err})
            else:
                err_console.print(f"Error: {exc}", markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


class Format(StrEnum):
    table = "table"
    json = "json"


class CandidateKind(StrEnum):
    all = "all"
    intermediate = "intermediate"
    language = "language"


def service() -> Service:
    from recommender.service import Service

    return Service()


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def fmt_gain(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:+.2f}"
    return str(value)


__all__ = ["app", "console", "err_console", "handle_errors", "Format", "CandidateKind", "service", "print_json",
           "fmt_gain"]
