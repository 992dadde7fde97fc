"""``python -m api``: serve on STEPSTONE_HOST:STEPSTONE_PORT (127.0.0.1:8000 unless set), one worker."""

from __future__ import annotations

import uvicorn

from api.app import create_app
from api.settings import get_settings


def main() -> None:
    settings = get_settings()
    uvicorn.run(create_app, factory=True, host=settings.host, port=settings.port,
                log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
