"""The body of ``POST /v1/runs``: a JSON list, a CSV or JSONL body, or a multipart file upload.

FastAPI declares one body type per route, so this reads the body by content type and turns every
problem into an ``InvalidRun`` that names the row, the field and the value (422). The OpenAPI
description of the three forms is ``RUNS_BODY``.

A CSV or JSONL body is streamed into a spooled temporary file (memory up to ``SPOOL_BYTES``, then
disk) and parsed line by line in a worker thread, so a 10 MB upload holds its runs, not its text
three times over, and the event loop (``/healthz``, cached answers) never parses it.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from typing import IO, Any

from fastapi import HTTPException, Request
from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.schemas import RunIn
from feature_store.errors import InvalidRun
from feature_store.runs.values import loads_json

JSONL_TYPES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines", "application/ndjson")
_run = TypeAdapter(RunIn)


SPOOL_BYTES = 1 << 20


class Upload:
    """A parsed body: either JSON records (``records``) or a run file (``file``) with its format."""

    def __init__(self, *, records: list[dict[str, Any]] | None = None, file: IO[bytes] | None = None,
                 fmt: str = "", name: str | None = None) -> None:
        self.records, self.file, self.fmt, self.name = records, file, fmt, name

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


async def _spool(request: Request) -> IO[bytes]:
    """The request body in a spooled temporary file, read chunk by chunk."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - the Upload closes it
    try:
        async for chunk in request.stream():
            spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


def validate_records(data: object) -> list[dict[str, Any]]:
    """A JSON list of run objects, each checked against ``RunIn`` (unknown fields rejected)."""
    if not isinstance(data, list):
        raise InvalidRun("expected a JSON list of runs", value=type(data).__name__)
    if not data:
        raise InvalidRun("no runs in input")
    out = []
    for row, record in enumerate(data, start=1):
        if not isinstance(record, dict):
            raise InvalidRun("not an object", row=row, value=record)
        for column, value in record.items():
            if isinstance(value, str) and "\x00" in value:
                raise InvalidRun("NUL character", row=row, column=str(column), value=value)
        try:
            out.append(_run.validate_python(record).model_dump())
        except ValidationError as exc:
            err = exc.errors()[0]
            column = str(err["loc"][0]) if err["loc"] else None
            reason = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
            value = err.get("input") if err["type"] != "missing" else None
            raise InvalidRun(reason, row=row, column=column, value=value) from None
    return out


def _format_of(content_type: str, filename: str | None) -> str | None:
    name = (filename or "").lower()
    if name.endswith(".csv") or content_type == "text/csv":
        return "csv"
    if name.endswith((".jsonl", ".ndjson")) or content_type in JSONL_TYPES:
        return "jsonl"
    return None


async def read_runs_body(request: Request) -> Upload:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        try:
            form = await request.form(max_files=1, max_fields=8)  # the file part is spooled by Starlette
        except StarletteHTTPException as exc:  # Starlette's 400 for a malformed or oversized form: a bad run file
            raise InvalidRun(f"unreadable multipart body ({exc.detail})") from None
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            await form.close()
            raise InvalidRun("multipart upload needs a file field named 'file'")
        part_type = (upload.content_type or "").split(";")[0].strip().lower()
        fmt = _format_of(part_type, upload.filename)
        if fmt is None:
            await form.close()
            raise InvalidRun("unsupported file type (use .csv or .jsonl)", value=upload.filename,
                             source=upload.filename)
        await upload.seek(0)
        return Upload(file=upload.file, fmt=fmt, name=upload.filename)
    fmt = _format_of(content_type, None)
    if fmt is not None:
        return Upload(file=await _spool(request), fmt=fmt)
    if content_type == "application/json" or content_type.endswith("+json"):
        raw = await request.body()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidRun("not UTF-8 text") from None
        data = loads_json(text)  # duplicate keys, deep nesting and 5,000-digit numbers are InvalidRun
        return Upload(records=validate_records(data))
    raise HTTPException(415, f"unsupported content type {content_type!r}: send application/json, text/csv, "
                             "application/x-ndjson or a multipart/form-data file")


_RUN_SCHEMA = RunIn.model_json_schema()
RUNS_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "Runs in the run schema: a JSON list, a CSV or JSONL body, or a file upload "
                       "(`file`, named *.csv or *.jsonl). All-or-nothing; re-sending a run is a duplicate.",
        "content": {
            "application/json": {"schema": {"type": "array", "items": _RUN_SCHEMA, "minItems": 1}},
            "text/csv": {"schema": {"type": "string"}},
            "application/x-ndjson": {"schema": {"type": "string"}},
            "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                               "properties": {"file": {"type": "string", "format": "binary"}}}},
        },
    }
}


class Uploads:
    """At most ``limit`` imports in progress in this process; one more is a 503 with ``Retry-After``
    (an import holds its runs in memory and the store's writer: queueing more only adds memory)."""

    def __init__(self, limit: int) -> None:
        self.limit, self.active = limit, 0

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        if self.active >= self.limit:
            raise HTTPException(503, f"{self.active} imports are running (at most {self.limit} at once); retry "
                                     "when they are done", headers={"Retry-After": "5"})
        self.active += 1  # only the event loop thread counts: no lock needed
        try:
            yield
        finally:
            self.active -= 1
