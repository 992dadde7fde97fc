"""``python -m stepstone``: the same as the ``stepstone`` command."""

from __future__ import annotations

import sys

from stepstone.cli import main

if __name__ == "__main__":  # a spawned child (the retrain job) imports this module without running it
    sys.exit(main())
