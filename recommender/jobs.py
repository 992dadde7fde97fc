"""Background jobs in a child process: a retrain, or an answer table, that does not hold the server's GIL.

``retrain_in_child`` starts a function in a fresh interpreter through ``multiprocessing``'s spawn
context (not a fork of a threaded server, not a shell-out to the CLI). ``Service.retrain(isolated=True)``
gives it ``recommender.service.retrain_job``, which trains and registers one model version without
switching ``current``, builds its answer table and sends back ``{"version": …}`` or
``{"error": …, "detail": …}`` over a pipe; the Service then switches to the new version itself.
``prepare_answers_in_child`` runs ``recommender.service.answers_job`` the same way. This module does
not import the Service, so the two do not import each other.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from feature_store import errors

# Set to "1" by ``stepstone serve``: a worker that finds no answer table (an import moved the store, an
# older version was activated) has a child process build it, at ``nice 10``, while it computes answers.
BACKGROUND = "STEPSTONE_BACKGROUND_ANSWERS"
# Errors a child may report that make sense to raise again here; anything else is a failure.
_RERAISE = (errors.NoModel, errors.ModelCorrupted, errors.InvalidRequest, errors.InvalidData,
            errors.StoreUnavailable)


# What a child runs: a module-level function (pickled by reference), given by the caller. The jobs
# that build a Service live in ``recommender.service``, so that this module never imports it.
RetrainTarget = Callable[[str, dict[str, Any], Connection], None]
AnswersTarget = Callable[[str, int], None]


def prepare_answers_in_child(home: Path, target: AnswersTarget, *, wait: bool, niceness: int = 0) -> BaseProcess:
    """Build the answer table of the live version and the store's revision under ``home`` in a child.

    ``wait``: return when it is built (``stepstone serve``, before a worker starts, keeps no model in
    its own memory); else return at once (a server that saw the store move: requests are computed
    until the table is there). Raises RuntimeError when a waited-for child fails."""
    child = multiprocessing.get_context("spawn").Process(target=target, args=(str(home), niceness),
                                                         name="stepstone-answers", daemon=not wait)
    child.start()
    if wait:
        child.join()
        if child.exitcode != 0:
            raise RuntimeError(f"the answer-table process failed (exit {child.exitcode})")
    return child


def retrain_in_child(home: Path, params: dict[str, Any], target: RetrainTarget) -> str:
    """Run ``target(home, params, pipe)`` in a child process: it trains and registers a version under
    ``home`` and answers ``{"version": …}`` (returned here) or ``{"error", "detail"}`` (raised here)."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=target, args=(str(home), dict(params), send), name="stepstone-retrain")
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
