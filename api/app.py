"""The FastAPI app: ``create_app()`` (a factory, for uvicorn ``--factory`` and tests).

The service (store, live model) is built once in the lifespan; routes are thin and call the
methods of ``recommender.service.Service``. Library errors map to 4xx
with a ``detail`` that names the bad value. Serve with ``python -m api`` (127.0.0.1 by default).
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api.cache import AnswerCache, CachedAnswers
from api.guard import WriteGuard
from api.observe import EdgeMiddleware, Metrics, configure_logging
from api.routes import catalog, metrics, models, plans, recommendations, runs
from api.settings import Settings, get_settings
from feature_store.errors import (
    InvalidData,
    InvalidRequest,
    InvalidRun,
    ModelCorrupted,
    ModelIncompatible,
    NoModel,
    NotALanguage,
    StepstoneError,
    StoreUnavailable,
    UnknownLanguage,
    UnknownTask,
)
from recommender.service import Service

log = logging.getLogger("stepstone")
STATUS: list[tuple[type[StepstoneError], int]] = [
    (NotALanguage, 422), (UnknownLanguage, 404), (UnknownTask, 404), (NoModel, 404), (ModelCorrupted, 409),
    (ModelIncompatible, 409), (StoreUnavailable, 503),
    (InvalidRun, 422), (InvalidData, 422), (InvalidRequest, 422), (StepstoneError, 400),
]


def error_response(exc: StepstoneError) -> JSONResponse:
    status = next(code for cls, code in STATUS if isinstance(exc, cls))
    body: dict[str, Any] = {"code": exc.code, "detail": str(exc)}
    if isinstance(exc, UnknownLanguage | UnknownTask):
        body.update(value=exc.value, suggestions=exc.suggestions)
    elif isinstance(exc, InvalidRun):
        body.update(row=exc.row, column=exc.column, value=_plain(exc.value))
    return JSONResponse(body, status_code=status)


def _plain(value: object) -> object:
    """The offending value as JSON can carry it (NaN, lists and objects as their repr)."""
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return repr(value)


def create_app(service: Service | None = None, settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if getattr(app.state, "service", None) is None:
            app.state.service = Service()
        app.state.service.registry.cleanup()  # temporary folders of a register() that crashed
        app.state.service.live()  # load (or build) the model once, before the first request
        if not settings.api_token:
            log.warning("writes are open to clients on this machine (STEPSTONE_API_TOKEN is not set); "
                        "cross-origin and remote writes are refused")
        app.state.cache = AnswerCache(app.state.service, entries=settings.cache_entries, max_bytes=settings.cache_bytes,
                                      revision_ttl=settings.revision_ttl)
        yield
        app.state.cache.revision.close()

    app = FastAPI(title="stepstone", version="0.1.0", lifespan=lifespan,
                  description="Which intermediate task or source language to train on before zero-shot "
                              "cross-lingual transfer. Writes (POST, DELETE) need `Authorization: Bearer "
                              "<token>` when the server runs with STEPSTONE_API_TOKEN set; without it, "
                              "writes are accepted from this machine only, never cross-origin.")
    app.state.service = service
    app.state.settings = settings
    app.state.metrics = Metrics(lambda: app.state.service.gauges(),
                                lambda: app.state.cache.stats() if getattr(app.state, "cache", None) else None)
    if settings.log_requests:
        configure_logging()
    app.add_middleware(CachedAnswers, cache=lambda: getattr(app.state, "cache", None))
    app.add_middleware(WriteGuard, token=lambda: settings.api_token)
    app.add_middleware(EdgeMiddleware, metrics=app.state.metrics, max_body_bytes=settings.max_body_bytes,
                       log=settings.log_requests)

    @app.exception_handler(StepstoneError)
    async def _stepstone_error(request: Request, exc: StepstoneError) -> JSONResponse:
        return error_response(exc)

    app.include_router(recommendations.router)
    app.include_router(runs.router)
    app.include_router(models.router)
    app.include_router(catalog.router)
    app.include_router(catalog.health_router)
    app.include_router(metrics.router)
    app.include_router(plans.router)
    return app
