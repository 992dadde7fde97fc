"""POST /v1/plans: which cells to measure next (a computation: nothing is written, no token needed)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import ServiceDep
from api.schemas import ErrorOut, PlanIn, PlanOut

router = APIRouter(prefix="/v1", tags=["plans"])


@router.post("/plans", response_model=PlanOut,
             responses={404: {"model": ErrorOut, "description": "unknown language or task"},
                        422: {"model": ErrorOut, "description": "bad budget, languages or throughput"}})
def post_plan(service: ServiceDep, body: PlanIn) -> dict[str, Any]:
    """Up to ``budget`` unmeasured cells (or what ``gpu_hours`` pays for), best expected improvement first."""
    return service.plan(body.task, body.languages, candidates=body.candidates, budget=body.budget,
                        gpu_hours=body.gpu_hours, tokens_per_second=body.tokens_per_second, model=body.model)
