"""Background jobs in a child process: a retrain that does not hold the server's GIL.

``retrain_in_child`` starts ``CHILD`` (``retrain_job`` here) in a fresh interpreter through
``multiprocessing``'s spawn context (not a fork of a threaded server, not a shell-out to the CLI):
it trains and registers one model version without switching ``current`` and sends back
``{"version": …}`` or ``{"error": …, "detail": …}`` over a pipe. ``Service.retrain(isolated=True)``
starts it and switches to the new version itself.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from feature_store import errors

# Errors a child may report that make sense to raise again here; anything else is a failure.
_RERAISE = (errors.NoModel, errors.ModelCorrupted, errors.InvalidRequest, errors.InvalidData)


def retrain_job(home: str, params: dict[str, Any], answer: Connection) -> None:
    """The child: train and register one version under ``home`` without switching to it."""
    os.environ["STEPSTONE_HOME"] = home
    os.nice(10)  # a background job: the server that started it keeps the CPU for its requests
    from recommender.service import Service

    try:
        version = Service().retrain(activate=False, **params)["version"]
    except errors.StepstoneError as exc:
        answer.send({"error": type(exc).__name__, "detail": str(exc)})
        raise SystemExit(1) from None
    answer.send({"version": version})


# The function the child runs (a module-level name, so that it can be pickled by reference).
CHILD: Callable[[str, dict[str, Any], Connection], None] = retrain_job


def retrain_in_child(home: Path, params: dict[str, Any]) -> str:
    """Train and register a version in a child process with ``STEPSTONE_HOME=home``; its version."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=CHILD, args=(str(home), dict(params), send), name="stepstone-retrain")
    child.start()
    send.close()  # the child holds the only sending end: a child that dies makes recv() raise
    try:
        answer = receive.recv()
    except EOFError:
        answer = None
    finally:
        receive.close()
        child.join()
    if not isinstance(answer, dict):
        raise RuntimeError(f"retrain process failed (exit {child.exitcode}) without an answer")
    if "error" in answer:
        cls = getattr(errors, str(answer["error"]), None)
        if isinstance(cls, type) and issubclass(cls, _RERAISE):
            raise cls(str(answer["detail"]))
        raise RuntimeError(f"retrain process failed: {answer['error']}: {answer['detail']}")
    return str(answer["version"])
