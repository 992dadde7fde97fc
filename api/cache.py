"""The thin path of ``GET /v1/recommendations``: the answer cache and the answer table, before FastAPI.

A recommendation is a pure function of the live model, the runs in the store (through the
candidate catalogue) and the query string, so a 200 answer can be replayed byte for byte until
one of them changes. ``CachedAnswers`` is an ASGI middleware that answers, without entering
FastAPI's routing, validation and threadpool (most of the cost of a request):

1. from an LRU of answer bodies keyed by (model version, store revision, query string);
2. else from the answer table of that version and revision (``recommender.answers.table``), when
   the query string is a plain one it holds (``language``, ``task``, ``k``, ``candidates``, each once,
   in the canonical form the route accepts; a language or task by a name the table knows);
3. else through the route (a ``model`` filter, a language no run targets, a store that moved since
   the table was built, every error); its 200 answer is kept. Errors are never cached.

A query whose language names no language is answered here too, after ``UNKNOWN_PAUSE`` seconds:
the lookup is cached and cheap (``feature_store.languages``), and the pause (no CPU) keeps a client
cycling through unknown names from taking the server's time away from everyone else's queries.

The model version is read per request (a swap invalidates at once). The store revision is read
through a separate read-only SQLite connection at most once per ``revision_ttl`` seconds, so a
request never waits for the store's lock while an import holds it; imports through this API call
``refresh()``, imports by another process (the CLI) are seen within ``revision_ttl``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from api.replies import error_response
from feature_store.errors import StepstoneError
from feature_store.languages import resolve_target
from recommender.answers.table import CANDIDATES, MAX_K
from recommender.service import Service

PATH = "/v1/recommendations"
# Where an answer came from: ``cache``, ``table`` or ``computed`` (the load benchmark counts them).
SOURCE = b"x-stepstone-answer"
Key = tuple[str, int, bytes]
PARAMS = frozenset({"language", "task", "k", "candidates"})
UNKNOWN_PAUSE = 0.05  # seconds before an unknown-language answer: a typo waits unnoticed, a flood crawls


def unknown_language(query_string: bytes) -> StepstoneError | None:
    """The error ``GET /v1/recommendations`` would answer for this query's language, or None when
    the language resolves or the query is not a plain one (the route then decides)."""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    names = [name for name, _ in pairs]
    if not set(names) <= PARAMS or len(names) != len(set(names)):
        return None
    language = dict(pairs).get("language", "")
    if not language or len(language) > 64 or not language.isprintable():
        return None  # the route's own validation answers these
    try:
        resolve_target(language)
    except StepstoneError as exc:
        return exc
    return None


def plain_query(query_string: bytes) -> tuple[str, str, int, str] | None:
    """(language, task, k, candidates) of a query string the route would accept as it stands; None for
    anything else (repeated or other parameters, a ``k`` not written as the route reads it)."""
    try:
        pairs = urllib.parse.parse_qsl(query_string.decode("ascii"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return None
    params = dict(pairs)
    if len(params) != len(pairs) or not params.keys() <= PARAMS:
        return None
    language, task = params.get("language", ""), params.get("task", "")
    k, candidates = params.get("k", "3"), params.get("candidates", "all")
    if not (0 < len(language) <= 64 and 0 < len(task) <= 64 and language.isprintable() and task.isprintable()):
        return None
    if not (k.isdigit() and k == str(int(k)) and 1 <= int(k) <= MAX_K) or candidates not in CANDIDATES:
        return None
    return language, task, int(k), candidates


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

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# A query string longer than this is answered but never cached (real queries are < 100 bytes):
# junk parameters cannot grow the cache.
MAX_KEY_BYTES = 512


class AnswerCache:
    """An LRU of answer bodies bounded by entries and by bytes (keys included); thread-safe."""

    def __init__(self, service: Service, *, entries: int = 4096, max_bytes: int = 64 << 20,
                 revision_ttl: float = 1.0) -> None:
        self.service = service
        self.entries = entries
        self.max_bytes = max_bytes
        self.revision = Revision(service.store.path, revision_ttl)
        self._data: OrderedDict[Key, bytes] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = self.table = 0

    def refresh(self) -> None:
        """Call after a write through this process: the next request re-reads the revision."""
        self.revision.refresh()

    def key(self, query_string: bytes) -> Key:
        return (self.service.cache_token(), self.revision.get(), query_string)

    def get(self, key: Key) -> bytes | None:
        if self.entries <= 0:
            return None
        with self._lock:
            body = self._data.get(key)
            if body is not None:
                self._data.move_to_end(key)
                self.hits += 1
            return body

    def from_table(self, key: Key) -> bytes | None:
        """The answer from the table of the key's version and revision (plain queries only)."""
        query = plain_query(key[2])
        if query is None or key[1] < 0:
            return None
        try:
            body = self.service.table_body(*query, revision=key[1], resolve=False)
        except Exception:  # noqa: BLE001 - the route answers instead, with its own error handling
            return None
        if body is not None and f'"model_version":"{key[0]}"'.encode() in body[:4096]:
            self.table += 1
            return body
        return None

    def put(self, key: Key, body: bytes) -> None:
        """Keep an answer if it came from the model version of its key (a swap may have come between)."""
        if not key[0] or key[1] < 0 or self.entries <= 0 or len(key[2]) > MAX_KEY_BYTES:
            return
        if f'"model_version":"{key[0]}"'.encode() not in body:
            return
        size = len(body) + len(key[2])
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= len(old) + len(key[2])
            self._data[key] = body
            self._bytes += size
            while len(self._data) > self.entries or self._bytes > self.max_bytes:
                k, v = self._data.popitem(last=False)
                self._bytes -= len(v) + len(k[2])

    def stats(self) -> dict[str, int]:
        """``hits``: replayed from the LRU; ``table``: read from the answer table; ``misses``: computed."""
        return {"hits": self.hits, "table": self.table, "misses": self.misses, "entries": len(self._data),
                "bytes": self._bytes}


class CachedAnswers:
    """ASGI middleware: replay cached 200 answers of ``GET /v1/recommendations``."""

    def __init__(self, app: Any, *, cache: Callable[[], AnswerCache | None]) -> None:
        self.app, self.cache = app, cache

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        cache = self.cache() if scope["type"] == "http" and scope["path"] == PATH and \
            scope["method"] == "GET" else None
        if cache is None:
            await self.app(scope, receive, send)
            return
        key = cache.key(scope["query_string"])
        body, source = cache.get(key), b"cache"
        if body is None:
            body, source = cache.from_table(key), b"table"
            if body is not None:
                cache.put(key, body)
        if body is not None:
            scope["route_template"] = PATH  # for the metrics and the log: routing was skipped
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode()), (SOURCE, source)]})
            await send({"type": "http.response.body", "body": body})
            return
        refused = unknown_language(scope["query_string"])
        if refused is not None:
            scope["route_template"] = PATH
            await asyncio.sleep(UNKNOWN_PAUSE)
            await error_response(refused)(scope, receive, send)
            return
        status, chunks = 0, []

        async def capture(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        cache.misses += 1
        await self.app(scope, receive, capture)
        if status == 200:
            cache.put(key, b"".join(chunks))
