"""The Service's precomputed answers: build the answer table of a (model version, store revision), read it.

``Service.prepare_answers()`` computes, for every (task, language) a user is likely to ask about —
each task with runs × each language that is the target of a run — the answer with up to ``MAX_K``
items per decision, through the very ``_rank`` a request uses (the reference path), and writes
the pieces to ``$STEPSTONE_HOME/answers/<version>-r<revision>.table`` (``answers.table``). It runs
once per (version, revision): at ``stepstone init``, ``retrain`` and ``activate``, before
``stepstone serve`` takes requests, and in the retrain child process (so an activation through the
API finds its table ready). A server whose store moved under it (an import) answers from the
reference path, with its answer cache, until a table for the new revision exists; under
``stepstone serve`` a child process builds it (``BACKGROUND``).

``table_body()`` is the request path: the live version, the revision (the caller's lock-free
reader, or the store's), one lookup and a slice. Queries the table does not hold (a language no run
targets, a ``model`` filter) return None and take the reference path.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from feature_store.errors import StepstoneError
from feature_store.languages import MACRO_OF, language_name, resolve_target
from feature_store.tasks import registry
from recommender.answers.answer import SCALE
from recommender.answers.table import (
    CANDIDATES,
    KINDS,
    MAX_K,
    SLOT_K,
    AnswerTable,
    Record,
    slot,
    table_path,
    template,
    write_table,
)
from recommender.jobs import BACKGROUND

if TYPE_CHECKING:
    from feature_store.runs.store import RunStore
    from feature_store.tasks import Task
    from recommender.answers.types import Answer
    from recommender.model.registry import LoadedModel, ModelRegistry

# A missing table is looked for again at most this often (an import in another process may write it).
RECHECK_SECONDS = 1.0
# Tables kept on disk: the newest few (older versions may be activated again; older revisions not).
KEEP_TABLES = 6


class AnswerTables:
    """Mixed into ``Service``: the answer table of the live version and the store's revision."""

    store: RunStore
    registry: ModelRegistry
    use_table: bool = True  # False: every answer from the reference path (tests compare the two)
    _table: AnswerTable | None = None
    _table_miss: tuple[str, int, float] | None = None

    if TYPE_CHECKING:  # the Service's own (and ``RunUseCases``'): declared for the type checker only
        def live(self) -> LoadedModel: ...

        def _rank(self, code: str, task: str, k: int, candidates: str, model: str | None = None, *,
                  live: LoadedModel | None = None, revision: int | None = None) -> tuple[Answer, Any]: ...

        def answer_warnings(self, live: LoadedModel, revision: int, target: Task, code: str,
                            candidates: str) -> list[str]: ...

        def tasks(self) -> list[dict[str, Any]]: ...

        def languages(self) -> list[dict[str, Any]]: ...

    # -- reading --------------------------------------------------------------------------------
    def answers_dir(self) -> Path:
        return self.store.path.parent / "answers"

    def answer_table(self, version: str, revision: int) -> AnswerTable | None:
        """The table of (version, revision) when it has been built; None otherwise (and for an unknown
        revision, ``-1``, from a reader that could not read it)."""
        table = self._table
        if revision < 0:
            return None
        if table is not None and table.version == version and table.revision == revision:
            return table
        now = time.monotonic()
        miss = self._table_miss
        if miss is not None and miss[:2] == (version, revision) and now - miss[2] < RECHECK_SECONDS:
            return None
        try:
            table = AnswerTable(table_path(self.answers_dir(), version, revision))
            if (table.version, table.revision) != (version, revision):
                raise ValueError("a table of another version or revision")
        except (OSError, ValueError, KeyError, TypeError):
            self._table_miss = (version, revision, now)
            if os.environ.get(BACKGROUND) == "1":
                self._build_in_background(version, revision)
            return None
        self._table = table  # the previous one is closed when no request holds it any more
        return table

    def table_body(self, language: str, task: str, k: int, candidates: str, revision: int | None = None, *,
                   resolve: bool = True) -> bytes | None:
        """The compact JSON answer (``model`` filter: none) from the table, or None when it lacks it.

        ``k`` and ``candidates`` must be valid. A name the table's alias maps do not hold is resolved
        as ``recommend`` resolves it (an unknown one raises), or, with ``resolve=False``, answers None
        (an event loop must not wait for a name search).
        """
        if not self.use_table:
            return None
        table = self.answer_table(self.live().version, self.store.revision() if revision is None else revision)
        if table is None:
            return None
        code, task_id = table.language(language), table.task(task)
        if code is None or task_id is None:
            if not resolve:
                return None
            code, task_id = code or resolve_target(language), task_id or registry().get(task).id
        return table.body(task_id, code, k, candidates)

    # -- building -------------------------------------------------------------------------------
    def _build_in_background(self, version: str, revision: int) -> None:
        """Start one child building the missing table (once per version and revision in this process)."""
        from recommender.jobs import prepare_answers_in_child  # multiprocessing, only when needed

        started = self.__dict__.setdefault("_table_builds", {})
        if (version, revision) in started or any(p.is_alive() for p in started.values()):
            return
        started[(version, revision)] = prepare_answers_in_child(self.store.path.parent, self.answers_job(),
                                                                wait=False, niceness=10)

    def answers_job(self) -> Callable[[str, int], None]:
        """The function a child runs to build a table (``recommender.service.answers_job``)."""
        raise NotImplementedError

    def prepare_answers(self, version: str | None = None,
                        queries: Sequence[tuple[str, str]] | None = None) -> Path | None:
        """Build the table of ``version`` (default: the live one) and the store's revision, unless it exists.

        ``queries``: the (task, language) pairs to hold (default: ``table_queries()``). None when the
        store moved during the build (the table would mix two revisions): the next call builds it again.
        """
        live = self.live() if version is None else self.registry.load(version)
        revision = self.store.revision()
        folder = self.answers_dir()
        path = table_path(folder, live.version, revision)
        if path.is_file():
            return path
        folder.mkdir(parents=True, exist_ok=True)
        with _locked(folder / ".lock"):
            if path.is_file():  # another process built it while this one waited
                return path
            t0 = time.perf_counter()
            records: dict[tuple[str, str], Record] = {}
            for task, code in self.table_queries() if queries is None else queries:
                try:
                    records[(task, code)] = self._record(live, revision, task, code)
                except StepstoneError:
                    continue  # the reference path answers it with its error
            if self.store.revision() != revision:
                return None
            header = {"version": live.version, "revision": revision, "queries": len(records),
                      "seconds": round(time.perf_counter() - t0, 3),
                      "languages": self._language_aliases({c for _, c in records}),
                      "tasks": _task_aliases({t for t, _ in records})}
            write_table(path, header, records)
            _prune(folder)
        return path

    def table_queries(self) -> list[tuple[str, str]]:
        """Every (task with runs, language that is the target of a run) pair."""
        tasks = [t["id"] for t in self.tasks() if t["runs"] > 0]
        languages = [x["code"] for x in self.languages() if x["target_runs"] > 0]
        return [(t, c) for t in tasks for c in languages]

    def _record(self, live: LoadedModel, revision: int, task: str, code: str) -> Record:
        """One (task, language): the items of the ``MAX_K`` answer and a template per ``candidates``."""
        answer, _ = self._rank(code, task, MAX_K, "all", live=live, revision=revision)
        full = answer.as_dict()
        decisions: dict[str, Any] = full["decisions"]  # type: ignore[assignment]
        record = Record()
        for kind in KINDS:
            record.add_items(kind, decisions[kind]["recommendations"])
        target = registry().get(task)
        for candidates in CANDIDATES:
            kinds = KINDS if candidates == "all" else (candidates,)
            out = {**full, "query": {**full["query"], "k": slot(SLOT_K), "candidates": candidates},  # type: ignore[dict-item]
                   "decisions": {kind: {**decisions[kind], "recommendations": slot(f"I:{kind}")} if kind in kinds
                                 else _not_asked(kind, candidates) for kind in KINDS},
                   "warnings": self.answer_warnings(live, revision, target, code, candidates)}
            record.add_template(candidates, template(out))
        return record

    @staticmethod
    def _language_aliases(codes: set[str]) -> dict[str, str]:
        """Lower-case code, English name, two-letter code and folded individual codes → code, where
        ``resolve_target`` agrees (so the table resolves exactly as the library does)."""
        try:
            from langcodes import Language
        except ImportError:  # pragma: no cover - a dependency of the package
            Language = None  # type: ignore[assignment,misc]  # noqa: N806
        members: dict[str, list[str]] = {}
        for individual, macro in MACRO_OF.items():
            members.setdefault(macro, []).append(individual)
        out: dict[str, str] = {}
        for code in sorted(codes):
            names = {code, language_name(code), *members.get(code, [])}
            if Language is not None:
                with contextlib.suppress(Exception):
                    names.add(Language.get(code).language or "")
            for name in names:
                alias = name.strip().lower()
                if not alias or alias in out:
                    continue
                try:
                    ok = resolve_target(alias) == code and resolve_target(name) == code
                except StepstoneError:
                    ok = False
                if ok:
                    out[alias] = code
        return out


def _not_asked(kind: str, candidates: str) -> dict[str, Any]:
    """A decision the query did not ask for, as ``rank_query`` writes it."""
    return {"kind": kind, "basis": None, "scale": SCALE[kind], "recommendations": [], "advice": None,
            "advice_detail": None, "advice_sources": [], "costs": [],
            "notes": [f"not asked for (candidates={candidates})"]}


def _task_aliases(ids: set[str]) -> dict[str, str]:
    reg = registry()
    out: dict[str, str] = {}
    for task in reg:
        if task.id not in ids:
            continue
        for alias in {task.id, *task.aliases}:
            hit = reg.lookup(alias)
            if hit is not None and hit.id == task.id:
                out[alias.strip().lower()] = task.id
    return out


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One builder per home at a time (workers and the CLI share the folder)."""
    with open(path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _prune(folder: Path) -> None:
    tables = sorted(folder.glob("v*.table"), key=lambda p: p.stat().st_mtime)
    for old in tables[:-KEEP_TABLES]:
        old.unlink(missing_ok=True)


__all__ = ["AnswerTables", "KEEP_TABLES", "RECHECK_SECONDS"]
