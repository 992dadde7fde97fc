"""The FastAPI app: ``create_app()`` (a factory, for uvicorn ``--factory`` and tests).

The service (store, live model) is built once in the lifespan; routes are thin and call the
methods of ``recommender.service.Service``. Library errors map to 4xx
with a ``detail`` that names the bad value. Serve with ``python -m api`` (127.0.0.1 by default).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError

from api.bodies import Uploads
from api.cache import AnswerCache, CachedAnswers
from api.guard import WriteGuard
from api.observe import EdgeMiddleware, Metrics, configure_logging
from api.params import refuse_unknown_query
from api.replies import SafeJSONResponse, stepstone_error, validation_error
from api.routes import catalog, metrics, models, plans, recommendations, runs
from api.settings import Settings, get_settings
from feature_store.errors import StepstoneError
from recommender.service import Service

log = logging.getLogger("stepstone")


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
                  dependencies=[Depends(refuse_unknown_query)], default_response_class=SafeJSONResponse,
                  description="Which intermediate task or source language to train on before zero-shot "
                              "cross-lingual transfer. Writes (POST, DELETE) need `Authorization: Bearer "
                              "<token>` when the server runs with STEPSTONE_API_TOKEN set; without it, "
                              "writes are accepted from this machine only, never cross-origin.")
    app.state.service = service
    app.state.settings = settings
    app.state.uploads = Uploads(settings.max_uploads)
    app.state.metrics = Metrics(lambda: app.state.service.gauges(),
                                lambda: app.state.cache.stats() if getattr(app.state, "cache", None) else None)
    if settings.log_requests:
        configure_logging()
    app.add_middleware(CachedAnswers, cache=lambda: getattr(app.state, "cache", None))
    app.add_middleware(WriteGuard, token=lambda: settings.api_token, hosts=settings.allowed_hosts)
    app.add_middleware(EdgeMiddleware, metrics=app.state.metrics, max_body_bytes=settings.max_body_bytes,
                       log=settings.log_requests)

    app.add_exception_handler(StepstoneError, stepstone_error)
    app.add_exception_handler(RequestValidationError, validation_error)

    app.include_router(recommendations.router)
    app.include_router(runs.router)
    app.include_router(models.router)
    app.include_router(catalog.router)
    app.include_router(catalog.health_router)
    app.include_router(metrics.router)
    app.include_router(plans.router)
    return app
