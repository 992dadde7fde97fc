"""GET /v1/recommendations."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.deps import ServiceDep
from api.schemas import ErrorOut, RecommendationList

router = APIRouter(prefix="/v1", tags=["recommendations"])


@router.get("/recommendations", response_model=RecommendationList,
            responses={404: {"model": ErrorOut, "description": "unknown language or task"}})
def get_recommendations(
    service: ServiceDep,
    language: Annotated[str, Query(min_length=1, max_length=64, description="Target language: code or name")],
    task: Annotated[str, Query(min_length=1, max_length=64, description="Target task id, e.g. xnli")],
    k: Annotated[int, Query(ge=1, le=50)] = 3,
    candidates: Literal["all", "intermediate", "language"] = "all",
) -> dict[str, object]:
    """Ranked transfer sources for one target task and language."""
    return service.recommend(language, task, k=k, candidates=candidates)
