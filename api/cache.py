"""Serialised answers of ``GET /v1/recommendations``, kept per (model version, store revision, query).

A recommendation is a pure function of the live model, the runs in the store (through the
candidate catalogue) and the query, so an answer stays valid until one of them changes. The model
version is read per request (a swap invalidates at once); the store revision is read through a
separate read-only SQLite connection at most once per ``revision_ttl`` seconds, so a request never
waits for the store's lock while an import holds it. Imports through this API call ``refresh()``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool

from api.schemas import RecommendationList
from recommender.admin import cache_token
from recommender.service import Service

Key = tuple[str, int, str, str, int, str]


class Revision:
    """The store's revision counter, re-read at most every ``ttl`` seconds, without the store lock."""

    def __init__(self, path: Path, ttl: float) -> None:
        self.path, self.ttl = path, ttl
        self._conn: sqlite3.Connection | None = None
        self._value, self._checked = -1, -float("inf")
        self._lock = threading.Lock()

    def _read(self) -> int:
        if self._conn is None:
            self._conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False,
                                         isolation_level=None, timeout=0.05)
        row = self._conn.execute("SELECT v FROM meta WHERE k = 'revision'").fetchone()
        return int(row[0]) if row else 0

    def get(self) -> int:
        now = time.monotonic()
        if now - self._checked < self.ttl:
            return self._value
        with self._lock:
            try:
                self._value = self._read()
            except sqlite3.Error:
                self._value = -1  # unknown: answers are still right, just not cached under it
            self._checked = now
        return self._value

    def refresh(self) -> None:
        self._checked = -float("inf")


class AnswerCache:
    def __init__(self, service: Service, *, entries: int = 4096, revision_ttl: float = 1.0) -> None:
        self.service = service
        self.entries = entries
        self.revision = Revision(service.store.path, revision_ttl)
        self._data: OrderedDict[Key, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def refresh(self) -> None:
        """Call after a write through this process: the next request re-reads the revision."""
        self.revision.refresh()

    def _get(self, key: Key) -> bytes | None:
        with self._lock:
            body = self._data.get(key)
            if body is not None:
                self._data.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
            return body

    def _put(self, key: Key, body: bytes) -> None:
        with self._lock:
            self._data[key] = body
            self._data.move_to_end(key)
            while len(self._data) > self.entries:
                self._data.popitem(last=False)

    def _compute(self, key: Key, language: str, task: str, k: int, candidates: str) -> bytes:
        result: dict[str, Any] = self.service.recommend(language, task, k=k, candidates=candidates)
        body = RecommendationList.model_validate(result).model_dump_json().encode()
        if result.get("model_version") == key[0] and key[1] >= 0:
            self._put(key, body)
        return body

    async def recommend(self, language: str, task: str, k: int, candidates: str) -> bytes:
        """The JSON answer: from the cache, else computed in a worker thread (it may wait on the store)."""
        key: Key = (cache_token(self.service), self.revision.get(), language, task, k, candidates)
        body = self._get(key)
        if body is None:
            body = await run_in_threadpool(self._compute, key, language, task, k, candidates)
        return body
