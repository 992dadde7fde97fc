"""``python -m api``: serve on STEPSTONE_HOST:STEPSTONE_PORT (127.0.0.1:8000 unless set), one worker,
with the server's read timeouts and connection limits (``api.server``).

Like ``stepstone serve``, a missing answer table (``recommender.precompute``) is built by a child
process while the first answers are computed.
"""

from __future__ import annotations

import os

from api.server import serve
from recommender.jobs import BACKGROUND


def main() -> None:
    os.environ[BACKGROUND] = "1"
    serve()


if __name__ == "__main__":
    main()
