"""``python -m api``: serve on STEPSTONE_HOST:STEPSTONE_PORT (127.0.0.1:8000 unless set), one worker."""

from __future__ import annotations

from api.server import serve

if __name__ == "__main__":
    serve()
