"""POST /v1/models (retrain), GET /v1/models, GET /v1/models/current, POST /v1/models/{version}/activate."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import ServiceDep, SettingsDep, WriteAuth
from api.schemas import ErrorOut, ModelOut, Version

router = APIRouter(prefix="/v1/models", tags=["models"])
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorOut}}


@router.post("", response_model=ModelOut, status_code=201, dependencies=[WriteAuth], responses=WRITE_ERRORS)
def post_model(service: ServiceDep, settings: SettingsDep) -> dict[str, Any]:
    """Retrain on the current store, register a new version and make it live.

    Answers the version and an in-sample evaluation summary. A failed retrain changes nothing.
    """
    return service.retrain(isolated=settings.retrain_in_subprocess)


@router.get("", response_model=list[ModelOut])
def get_models(service: ServiceDep) -> list[dict[str, Any]]:
    """Registered versions, oldest first."""
    return service.models()


@router.get("/current", response_model=ModelOut)
def get_current(service: ServiceDep) -> dict[str, Any]:
    """The version serving requests now."""
    return service.current_model()


@router.post("/{version}/activate", response_model=ModelOut, dependencies=[WriteAuth],
             responses={**WRITE_ERRORS, 404: {"model": ErrorOut}, 409: {"model": ErrorOut,
                        "description": "the version's files fail verification; nothing changed"}})
def activate(service: ServiceDep, version: Version) -> dict[str, Any]:
    """Roll back or forward: verify a version, then swap it in atomically."""
    return service.activate(version)
