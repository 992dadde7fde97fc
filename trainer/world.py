"""The torchrun world this process belongs to: its rank and how many processes train together.

torchrun starts N copies with RANK / WORLD_SIZE set; a plain ``python -m trainer`` has neither and
is rank 0 of a world of one. Every "only rank 0 writes / reports / locks" decision asks here.
"""

from __future__ import annotations

import os


def rank() -> int:
    """This process's rank under torchrun; 0 otherwise."""
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    """Processes training together (torchrun sets WORLD_SIZE); 1 otherwise."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Rank 0 under torchrun, or the only process: the one that writes runs, artefacts and output."""
    return rank() == 0
