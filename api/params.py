"""Query strings are checked whole: a parameter the endpoint does not take is a 422 naming it.

Without this a typo'd filter (``DELETE /v1/runs?datset=…&target_task=tydiqa``) is dropped silently
and the delete matches more runs than asked, even with ``expected``, since the count drops the same
typo. It is an app-wide dependency, so every endpoint, present and future, follows the rule.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from feature_store.errors import InvalidRequest

_taken: dict[int, frozenset[str]] = {}  # route id -> the query parameters it declares


def _declared(route: object) -> frozenset[str] | None:
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return None
    names = _taken.get(id(route))
    if names is None:
        names = frozenset(_query_names(dependant))
        _taken[id(route)] = names
    return names


def _query_names(dependant: Any) -> set[str]:
    """The query parameters of an endpoint and of its dependencies, by the name a client sends."""
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def refuse_unknown_query(request: Request) -> None:
    """422 naming the first query parameter the matched endpoint does not declare."""
    names = _declared(request.scope.get("route"))
    if names is None:
        return
    for given in request.query_params:
        if given not in names:
            takes = ", ".join(sorted(names)) or "no query parameters"
            raise InvalidRequest(f"unknown query parameter {given!r}; this endpoint takes {takes}")
