"""The recommender's commands: thin commands over ``recommender.service``.

Each command calls one Service method; a ``StepstoneError`` becomes ``Error: …`` on stderr and
exit code 1. One module per command group; heavy modules (LightGBM, matplotlib) are imported
inside commands, so ``--help`` is quick. The ``stepstone`` command (``stepstone.cli``) mounts
this app next to the trainer's; this package does not know the trainer.
"""

from __future__ import annotations

from recommender.cli import catalog, evaluate, models, plan, recommend, report, runs  # noqa: F401  (registers commands)
from recommender.cli.common import app

__all__ = ["app"]
