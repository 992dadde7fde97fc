"""Background jobs in a child process: a retrain that does not hold the server's GIL.

``retrain_in_child`` starts a function in a fresh interpreter through ``multiprocessing``'s spawn
context (not a fork of a threaded server, not a shell-out to the CLI). ``Service.retrain(isolated=True)``
gives it ``recommender.service.retrain_job``, which trains and registers one model version without
switching ``current`` and sends back ``{"version": …}`` or ``{"error": …, "detail": …}`` over a
pipe; the Service then switches to the new version itself. This module does not import the
Service, so the two do not import each other.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from feature_store import errors

# Errors a child may report that make sense to raise again here; anything else is a failure.
_RERAISE = (errors.NoModel, errors.ModelCorrupted, errors.InvalidRequest, errors.InvalidData)


Child = Callable[[str, dict[str, Any], Connection], None]


def retrain_in_child(home: Path, params: dict[str, Any], target: Child) -> str:
    """Run ``target(home, params, pipe)`` in a child process (a module-level function, pickled by
    reference) and return the version it reports; its errors are raised here."""
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
