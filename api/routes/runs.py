"""POST /v1/runs (import), GET /v1/runs (filtered, paginated listing)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from api.bodies import RUNS_BODY, read_runs_body
from api.deps import CacheDep, ServiceDep, WriteAuth
from api.schemas import NO_CONTROL, ErrorOut, ImportOut, RunErrorOut, RunPage
from feature_store.runs import ImportResult
from recommender.service import MAX_PAGE

router = APIRouter(prefix="/v1", tags=["runs"])
Filter = Annotated[str | None, Query(max_length=128, pattern=NO_CONTROL)]


@router.post("/runs", response_model=ImportOut, dependencies=[WriteAuth], openapi_extra=RUNS_BODY,
             responses={401: {"model": ErrorOut}, 413: {"model": ErrorOut}, 415: {"model": ErrorOut},
                        422: {"model": RunErrorOut, "description": "a run breaks the schema; names row, "
                              "column and value; nothing was imported"}})
async def post_runs(request: Request, service: ServiceDep, cache: CacheDep) -> ImportResult:
    """Import runs, all or nothing; runs already in the store count as duplicates."""
    upload = await read_runs_body(request)
    if upload.records is not None:
        result = await run_in_threadpool(service.import_records, upload.records)
    else:
        result = await run_in_threadpool(service.import_text, upload.text, upload.fmt, upload.name)
    cache.refresh()
    return result


@router.get("/runs", response_model=RunPage, responses={404: {"model": ErrorOut}})
def get_runs(service: ServiceDep, target_task: Filter = None, target_language: Filter = None,
             source_task: Filter = None, source_language: Filter = None, dataset: Filter = None,
             model: Filter = None, limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
             offset: Annotated[int, Query(ge=0, le=2**62)] = 0) -> dict[str, Any]:
    """Runs in import order, filtered by exact match (languages by any code or name)."""
    return service.list_runs(limit=limit, offset=offset, target_task=target_task,
                           target_language=target_language, source_task=source_task,
                           source_language=source_language, dataset=dataset, model=model)
