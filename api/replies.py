"""Error replies: library errors as 4xx with a ``detail``, and JSON that can carry any str.

A reply may echo what the client sent (an unknown language, a bad value). JSON strings may hold a
lone surrogate (``"\\ud800"``), which Python decodes into a str that UTF-8 cannot encode, so every
reply is written by ``SafeJSONResponse``: such characters go out as ``\\udXXX`` escapes, which is
valid JSON, instead of failing the reply with a 500.
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from feature_store.errors import (
    InvalidData,
    InvalidRequest,
    InvalidRun,
    ModelCorrupted,
    ModelIncompatible,
    NoModel,
    NotALanguage,
    StepstoneError,
    StoreUnavailable,
    UnknownLanguage,
    UnknownTask,
)

STATUS: list[tuple[type[StepstoneError], int]] = [
    (NotALanguage, 422), (UnknownLanguage, 404), (UnknownTask, 404), (NoModel, 404), (ModelCorrupted, 409),
    (ModelIncompatible, 409), (StoreUnavailable, 503),
    (InvalidRun, 422), (InvalidData, 422), (InvalidRequest, 422), (StepstoneError, 400),
]


class SafeJSONResponse(JSONResponse):
    """JSON whose strings may hold lone surrogates: written as ``\\udXXX`` escapes, never a 500."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))
        return text.encode("utf-8", "backslashreplace")


def error_response(exc: StepstoneError) -> JSONResponse:
    status = next(code for cls, code in STATUS if isinstance(exc, cls))
    body: dict[str, Any] = {"code": exc.code, "detail": str(exc)}
    if isinstance(exc, UnknownLanguage | UnknownTask):
        body.update(value=exc.value, suggestions=exc.suggestions)
    elif isinstance(exc, InvalidRun):
        body.update(row=exc.row, column=exc.column, value=_plain(exc.value))
    return SafeJSONResponse(body, status_code=status)


def _plain(value: object) -> object:
    """The offending value as JSON can carry it (NaN, lists and objects as their repr)."""
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return repr(value)


async def stepstone_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StepstoneError)
    return error_response(exc)


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 for a request that breaks the schema, written by ``SafeJSONResponse``."""
    assert isinstance(exc, RequestValidationError)
    return SafeJSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)
