"""GET /v1/languages, GET /v1/tasks, GET /healthz."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ServiceDep
from api.schemas import Health, LanguageOut, TaskOut

router = APIRouter(prefix="/v1", tags=["catalog"])
health_router = APIRouter(tags=["health"])


@router.get("/languages", response_model=list[LanguageOut])
def get_languages(service: ServiceDep) -> list[dict[str, object]]:
    """Languages with runs in the store."""
    return service.languages()


@router.get("/tasks", response_model=list[TaskOut])
def get_tasks(service: ServiceDep) -> list[dict[str, object]]:
    """The task registry with difficulty figures and run counts."""
    return service.tasks()


@health_router.get("/healthz", response_model=Health)
def healthz(service: ServiceDep) -> dict[str, object]:
    return service.health()
