"""The FastAPI app: ``create_app()`` (a factory, for uvicorn ``--factory`` and tests).

The service (store, live model) is built once in the lifespan; routes are thin and call it.
Library errors map to 4xx with a ``detail`` that names the bad value.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api.routes import catalog, recommendations
from feature_store.errors import (
    InvalidData,
    InvalidRequest,
    InvalidRun,
    ModelCorrupted,
    NoModel,
    StepstoneError,
    UnknownLanguage,
    UnknownTask,
)
from recommender.service import Service

STATUS: list[tuple[type[StepstoneError], int]] = [
    (UnknownLanguage, 404), (UnknownTask, 404), (NoModel, 404), (ModelCorrupted, 409),
    (InvalidRun, 422), (InvalidData, 422), (InvalidRequest, 422), (StepstoneError, 400),
]


def error_response(exc: StepstoneError) -> JSONResponse:
    status = next(code for cls, code in STATUS if isinstance(exc, cls))
    body: dict[str, object] = {"detail": str(exc)}
    if isinstance(exc, UnknownLanguage | UnknownTask):
        body.update(value=exc.value, suggestions=exc.suggestions)
    return JSONResponse(body, status_code=status)


def create_app(service: Service | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if getattr(app.state, "service", None) is None:
            app.state.service = Service()
        app.state.service.live()  # load (or build) the model once, before the first request
        yield

    app = FastAPI(title="stepstone", version="0.1.0", lifespan=lifespan,
                  description="Which intermediate task or source language to train on before zero-shot "
                              "cross-lingual transfer.")
    app.state.service = service

    @app.exception_handler(StepstoneError)
    async def _stepstone_error(request: Request, exc: StepstoneError) -> JSONResponse:
        return error_response(exc)

    app.include_router(recommendations.router)
    app.include_router(catalog.router)
    app.include_router(catalog.health_router)
    return app
