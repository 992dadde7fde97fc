"""GET /v1/recommendations (the hot path), POST /v1/recommendations/batch."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from api.deps import ServiceDep, SettingsDep, WriteAuth
from api.schemas import NO_CONTROL, BatchIn, BatchOut, ErrorOut, RecommendationList
from feature_store.errors import InvalidRequest

router = APIRouter(prefix="/v1", tags=["recommendations"])


@router.get("/recommendations", response_model=RecommendationList,
            responses={404: {"model": ErrorOut, "description": "unknown language or task"}})
def get_recommendations(
    service: ServiceDep,
    language: Annotated[str, Query(min_length=1, max_length=64, pattern=NO_CONTROL,
                                   description="Target language: code or name")],
    task: Annotated[str, Query(min_length=1, max_length=64, pattern=NO_CONTROL,
                               description="Target task id, e.g. xnli")],
    k: Annotated[int, Query(ge=1, le=50)] = 3,
    candidates: Literal["all", "intermediate", "language"] = "all",
    model: Annotated[str | None, Query(min_length=1, max_length=256, pattern=NO_CONTROL,
                                       description="count only measured runs of models whose name contains "
                                                   "this")] = None,
) -> dict[str, Any]:
    """Two decisions for one target task and language, each ranked only against its own kind:
    ``decisions.intermediate`` (which intermediate task) and ``decisions.language`` (which source
    language's data); ``candidates=intermediate|language`` leaves the other one empty. Each item
    shows a gain (measured or predicted, its ``basis`` says which) and items are ordered by it.
    Answers are cached (``api.cache``)."""
    return service.recommend(language, task, k=k, candidates=candidates, model=model).as_dict()


@router.post("/recommendations/batch", response_model=BatchOut, dependencies=[WriteAuth],
             responses={401: {"model": ErrorOut}, 422: {"model": ErrorOut, "description": "over 1,000 queries"}})
def post_batch(service: ServiceDep, settings: SettingsDep, body: BatchIn) -> dict[str, Any]:
    """Up to 1,000 queries in one call; a bad query gets its own error, the others their answers."""
    if len(body.queries) > settings.max_batch:
        raise InvalidRequest(f"at most {settings.max_batch} queries per batch, got {len(body.queries)}")
    return {"results": service.recommend_batch([q.model_dump() for q in body.queries])}
