"""POST /v1/runs (import), GET /v1/runs (filtered, paginated listing), DELETE /v1/runs (filtered)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from api.bodies import RUNS_BODY, Uploads, read_runs_body
from api.deps import CacheDep, ServiceDep, WriteAuth
from api.schemas import NO_CONTROL, DeleteOut, ErrorOut, ImportOut, RunErrorOut, RunPage
from feature_store.runs.run import ImportResult
from recommender.runs import MAX_PAGE

router = APIRouter(prefix="/v1", tags=["runs"])
Filter = Annotated[str | None, Query(max_length=128, pattern=NO_CONTROL)]


@router.post("/runs", response_model=ImportOut, dependencies=[WriteAuth], openapi_extra=RUNS_BODY,
             responses={401: {"model": ErrorOut}, 413: {"model": ErrorOut}, 415: {"model": ErrorOut},
                        503: {"model": ErrorOut, "description": "too many imports at once; retry"},
                        422: {"model": RunErrorOut, "description": "a run breaks the schema; names row, "
                              "column and value; nothing was imported"}})
async def post_runs(request: Request, service: ServiceDep, cache: CacheDep,
                    replace: Annotated[bool, Query(description="correct stored runs whose score differs")] = False,
                    ) -> ImportResult:
    """Import runs, all or nothing; identical runs count as duplicates, a different score for a
    stored run is a 422 naming both values unless ``replace=true`` corrects it. At most
    ``STEPSTONE_MAX_UPLOADS`` imports run at once; more get 503 with ``Retry-After``."""
    uploads: Uploads = request.app.state.uploads
    with uploads.slot():
        upload = await read_runs_body(request)
        try:
            if upload.records is not None:
                records = upload.records
                result = await run_in_threadpool(lambda: service.import_records(records, replace=replace))
            else:
                assert upload.file is not None
                file = upload.file
                result = await run_in_threadpool(
                    lambda: service.import_stream(file, upload.fmt, upload.name, replace=replace))
        finally:
            upload.close()
    cache.refresh()
    return result


@router.delete("/runs", response_model=DeleteOut, dependencies=[WriteAuth],
               responses={401: {"model": ErrorOut}, 403: {"model": ErrorOut},
                          404: {"model": ErrorOut, "description": "a language filter names no language"},
                          422: {"model": ErrorOut, "description": "no filter, or the store changed since "
                                "the count given as `expected`"}})
def delete_runs(service: ServiceDep, cache: CacheDep, target_task: Filter = None, target_language: Filter = None,
                source_task: Filter = None, source_language: Filter = None, dataset: Filter = None,
                model: Filter = None,
                expected: Annotated[int | None, Query(ge=0, description="refuse unless this many match")] = None,
                ) -> dict[str, int]:
    """Delete the runs matching the filters (at least one filter); bumps the store revision."""
    deleted = service.delete_runs(expected=expected, target_task=target_task, target_language=target_language,
                                  source_task=source_task, source_language=source_language, dataset=dataset,
                                  model=model)
    cache.refresh()
    return {"deleted": deleted}


@router.get("/runs", response_model=RunPage, responses={404: {"model": ErrorOut}})
def get_runs(service: ServiceDep, target_task: Filter = None, target_language: Filter = None,
             source_task: Filter = None, source_language: Filter = None, dataset: Filter = None,
             model: Filter = None, limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
             offset: Annotated[int, Query(ge=0, le=2**62)] = 0) -> dict[str, Any]:
    """Runs in import order, filtered by exact match (languages by any code or name)."""
    return service.list_runs(limit=limit, offset=offset, target_task=target_task,
                           target_language=target_language, source_task=source_task,
                           source_language=source_language, dataset=dataset, model=model)
