"""Background jobs in a child process: a retrain, or an answer table, that does not hold the server's GIL.

``retrain_in_child`` starts ``CHILD`` (``retrain_job`` here) in a fresh interpreter through
``multiprocessing``'s spawn context (not a fork of a threaded server, not a shell-out to the CLI):
it trains and registers one model version without switching ``current``, builds its answer table
(``recommender.precompute``) and sends back
``{"version": …}`` or ``{"error": …, "detail": …}`` over a pipe. ``Service.retrain(isolated=True)``
starts it and switches to the new version itself.
"""

from __future__ import annotations

import multiprocessing
import os
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


def retrain_job(home: str, params: dict[str, Any], answer: Connection) -> None:
    """The child: train and register one version under ``home`` without switching to it."""
    os.environ["STEPSTONE_HOME"] = home
    os.nice(10)  # a background job: the server that started it keeps the CPU for its requests
    from recommender.service import Service

    try:
        service = Service()
        version = service.retrain(activate=False, **params)["version"]
        service.prepare_answers(version)  # the activation that follows finds its answers ready
    except errors.StepstoneError as exc:
        answer.send({"error": type(exc).__name__, "detail": str(exc)})
        raise SystemExit(1) from None
    answer.send({"version": version})


def answers_job(home: str, niceness: int) -> None:
    """The child: the live model (the default one, trained on first use) and its answer table."""
    os.environ["STEPSTONE_HOME"] = home
    if niceness:
        os.nice(niceness)
    from recommender.service import Service

    service = Service()
    service.live()
    service.prepare_answers()


# The functions the children run (module-level names, so that they can be pickled by reference).
CHILD: Callable[[str, dict[str, Any], Connection], None] = retrain_job
ANSWERS: Callable[[str, int], None] = answers_job


def prepare_answers_in_child(home: Path, *, wait: bool, niceness: int = 0) -> BaseProcess:
    """Build the answer table of the live version and the store's revision under ``home`` in a child.

    ``wait``: return when it is built (``stepstone serve``, before a worker starts, keeps no model in
    its own memory); else return at once (a server that saw the store move: requests are computed
    until the table is there). Raises RuntimeError when a waited-for child fails."""
    child = multiprocessing.get_context("spawn").Process(target=ANSWERS, args=(str(home), niceness),
                                                         name="stepstone-answers", daemon=not wait)
    child.start()
    if wait:
        child.join()
        if child.exitcode != 0:
            raise RuntimeError(f"the answer-table process failed (exit {child.exitcode})")
    return child


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
