"""Typed dependencies shared by the routes: the service, the settings, the write guard."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.cache import AnswerCache
from api.settings import Settings
from recommender.service import Service


# Dependencies are ``async def``: FastAPI runs plain ``def`` dependencies in the threadpool, which
# costs more than the cached answer of the hot path itself.
async def get_service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


async def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_cache(request: Request) -> AnswerCache:
    return request.app.state.cache  # type: ignore[no-any-return]


ServiceDep = Annotated[Service, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
CacheDep = Annotated[AnswerCache, Depends(get_cache)]

_bearer = HTTPBearer(auto_error=False, description="Needed on writes when STEPSTONE_API_TOKEN is set.")


async def require_token(settings: SettingsDep,
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    """401 unless the bearer token matches STEPSTONE_API_TOKEN (compared in constant time)."""
    expected = settings.api_token
    if not expected:
        return
    given = credentials.credentials if credentials is not None else ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})


WriteAuth = Depends(require_token)
