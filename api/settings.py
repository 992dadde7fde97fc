"""API settings from the environment (``STEPSTONE_*``), served by a cached ``get_settings()``."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STEPSTONE_")

    # Host names served (comma-separated, ``*`` for any): a DNS-rebinding page sends its own name.
    allowed_hosts: str = "localhost,127.0.0.1,::1"
    api_token: str | None = None  # when set, writes need `Authorization: Bearer <token>`
    max_body_bytes: int = 10 * 1024 * 1024  # larger request bodies get 413
    max_uploads: int = 2  # run imports (POST /v1/runs) in progress at once; more get 503
    max_batch: int = 1000  # queries per POST /v1/recommendations/batch
    host: str = "127.0.0.1"  # `python -m api` binds here: loopback unless asked otherwise
    port: int = 8000
    cache_entries: int = 4096  # serialised recommendation answers kept per process
    cache_bytes: int = 64 << 20  # and at most this many bytes of them
    revision_ttl: float = 1.0  # seconds between checks for imports made by other processes
    log_requests: bool = True  # one JSON line per request on stderr
    retrain_in_subprocess: bool = True  # train in a child process: serving keeps the GIL meanwhile
    # Slow or idle clients (``api.server``): seconds to send a request head, and the longest pause
    # in a body; idle keep-alive seconds; open connections beyond which requests get 503.
    head_timeout: float = 10.0
    max_waiting: int | None = None  # connections waiting for their client (None: 3/4 of the open-files limit)
    body_idle_timeout: float = 10.0
    keep_alive_timeout: int = 5
    limit_concurrency: int = 2048
    backlog: int = 2048


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
