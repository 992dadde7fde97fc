"""Background jobs in a child process: a retrain that does not hold the server's GIL.

The child is ``python -m recommender.cli retrain-job '<params as JSON>'`` (a hidden command):
it trains and registers one model version without switching ``current`` and prints one JSON
line, ``{"version": …}`` or ``{"error": …, "detail": …}``. ``Service.retrain(isolated=True)``
starts it and switches to the new version itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from feature_store import errors

# Errors a child may report that make sense to raise again here; anything else is a failure.
_RERAISE = (errors.NoModel, errors.ModelCorrupted, errors.InvalidRequest, errors.InvalidData,
            errors.StoreUnavailable)


def child_command(params: dict[str, Any]) -> list[str]:
    return [sys.executable, "-m", "recommender.cli", "retrain-job", json.dumps(params)]


def retrain_in_child(home: Path, params: dict[str, Any]) -> str:
    """Train and register a version in a child process with ``STEPSTONE_HOME=home``; its version."""
    env = {**os.environ, "STEPSTONE_HOME": str(home)}
    proc = subprocess.run(child_command(params), env=env, capture_output=True, text=True, check=False)
    try:
        answer = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise RuntimeError(f"retrain process failed (exit {proc.returncode}): {proc.stderr[-2000:]}") from None
    if "error" in answer:
        cls = getattr(errors, str(answer["error"]), None)
        if isinstance(cls, type) and issubclass(cls, _RERAISE):
            raise cls(str(answer["detail"]))
        raise RuntimeError(f"retrain process failed: {answer['error']}: {answer['detail']}")
    return str(answer["version"])
