"""``python -m api``: serve on STEPSTONE_HOST:STEPSTONE_PORT (127.0.0.1:8000 unless set), one worker.

Like ``stepstone serve``, a missing answer table (``recommender.precompute``) is built by a child
process while the first answers are computed.
"""

from __future__ import annotations

import os

import uvicorn

from api.app import create_app
from api.settings import get_settings
from recommender.jobs import BACKGROUND


def main() -> None:
    settings = get_settings()
    os.environ[BACKGROUND] = "1"
    uvicorn.run(create_app, factory=True, host=settings.host, port=settings.port,
                log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
