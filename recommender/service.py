"""The Service: every use case once. The CLI and the REST API are thin calls into it.

``Service`` owns the run store, the model registry and the live model, one attribute swapped in a
single assignment (a request sees the old model or the new one) that follows the registry's
``current`` pointer: a version activated by another process is picked up within ``FOLLOW_SECONDS``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from feature_store.errors import InvalidRequest, ModelIncompatible, StepstoneError
from feature_store.evidence import published_findings
from feature_store.features import FeatureBuilder
from feature_store.languages import language_name, resolve, resolve_target
from feature_store.runs.run import Run, fingerprint_runs
from feature_store.runs.seed import ensure_seeded
from feature_store.runs.store import RunStore
from feature_store.tasks import Task, registry
from recommender.answers.advice import NOISE_THRESHOLD
from recommender.answers.annotate import Annotator
from recommender.answers.answer import PEERS, Ranking, rank_query
from recommender.answers.candidates import (
    Catalogue,
    build_catalogue,
    candidate_pool,
    check_k,
    check_kind,
    check_model,
)
from recommender.answers.explain import Explainer, contribution_table, find_entry
from recommender.answers.measured import MeasuredCells, measured_cells
from recommender.answers.neighbours import TaskRuns
from recommender.answers.table import MAX_K, compact
from recommender.answers.types import KINDS, MODEL, Answer, Baseline, Query
from recommender.model.registry import CALIBRATION_FILE, LoadedModel, ModelRegistry
from recommender.model.training import train_model
from recommender.planning.cost import run_costs
from recommender.precompute import AnswerTables
from recommender.runs import RunUseCases
from recommender.versions import ModelVersions

# How often the live model re-reads the ``current`` pointer (another process may have moved it).
FOLLOW_SECONDS = 0.5
Progress = Callable[[str, int, int], None]  # (phase, done, total)


class Service(AnswerTables, ModelVersions, RunUseCases):
    """One per process: the CLI makes one per command, the API one per worker."""

    def __init__(self, *, seed: bool = True, use_table: bool = True) -> None:
        self.use_table = use_table
        self.store = RunStore()
        if seed:
            ensure_seeded(self.store)
        self.registry = ModelRegistry()
        self._lock, self._retrain_lock = threading.Lock(), threading.Lock()
        self._live: LoadedModel | None = None
        self._checked = -float("inf")
        self._builder: FeatureBuilder | None = None
        self._catalogue: tuple[int, Catalogue] | None = None
        self._annotator: tuple[tuple[str, int], Annotator] | None = None
        self._listings: dict[tuple[str, int], Any] = {}

    # -- shared state ---------------------------------------------------------------------------
    @property
    def builder(self) -> FeatureBuilder:
        if self._builder is None:
            self._builder = FeatureBuilder()
        return self._builder

    def catalogue(self, revision: int | None = None) -> Catalogue:
        """Known sources per task, rebuilt from one aggregate query when the store's revision moves."""
        revision = self.store.revision() if revision is None else revision
        cached = self._catalogue
        if cached is None or cached[0] != revision:
            cached = (revision, build_catalogue(
                self.store.taught_source_counts(),
                self.store.counts("target_task", "target_language")))
            self._catalogue = cached
        return cached[1]

    def live(self) -> LoadedModel:
        """The live model: the registry's current version, re-checked every ``FOLLOW_SECONDS``.

        With no model at all, the default one is trained from the store (first use).
        """
        live = self._live
        now = time.monotonic()
        if live is not None and now - self._checked < FOLLOW_SECONDS:
            return live
        with self._lock:
            self._checked = now
            current = self.registry.current()
            if self._live is not None and self._live.version == current:
                return self._live
            if current is None:
                if self._live is not None:
                    return self._live
                self._retrain_locked(activate=True)
            else:
                self._live = self.registry.load_live(self._live)  # a corrupted current: logged, kept
            live = self._live
        assert live is not None
        return live

    def ensure_model(self) -> LoadedModel:
        """The live model, retraining when the current one was built by another version of stepstone."""
        try:
            return self.live()
        except ModelIncompatible:
            with self._lock:
                self._retrain_locked(activate=True)
            assert self._live is not None
            return self._live

    def annotator(self, live: LoadedModel, revision: int) -> Annotator:
        """Intervals, reasons, advice and coverage for one model version and store revision (cached)."""
        key = (live.version, revision)
        cached = self._annotator
        if cached is None or cached[0] != key:
            cached = (key, Annotator(live.model, live.calibration,
                                     Explainer(live.model.feature_names_, self.builder.languages),
                                     self.catalogue(revision).measured))
            self._annotator = cached
        return cached[1]

    def cache_token(self) -> str:
        """The live model's version (following ``current``): answers cached under it stay valid until a swap."""
        return self.live().version

    # -- models ---------------------------------------------------------------------------------
    def _retrain_locked(self, *, activate: bool, **params: Any) -> str:
        from recommender.evaluation.metrics import in_sample_summary
        from recommender.model.calibration import calibrate

        t0 = time.perf_counter()
        runs = self.store.query()
        model, ts = train_model(runs, builder=self.builder, scales=self.store.scales(), **params)
        meta: dict[str, Any] = {"fingerprint": fingerprint_runs(runs), "runs": len(runs),
                                "queries": len(ts.queries), "rows": int(len(ts.X))}
        extra: dict[str, bytes] = {}
        if model.gain_ is not None:
            cal = calibrate(ts, **params)
            extra[CALIBRATION_FILE] = cal.to_json().encode()
            meta["calibration"] = {"file": CALIBRATION_FILE, "level": cal.level, "method": cal.method,
                                   "cv_coverage": cal.meta.get("cv_coverage"),
                                   "width": {k: round(hi - lo, 3) for k, (lo, hi) in cal.quantiles.items()}}
        meta["train_seconds"] = round(time.perf_counter() - t0, 3)
        version = self.registry.register(model, meta, activate=False, extra_files=extra)
        self.registry.write_evaluation(version, in_sample_summary(model, ts))
        if activate:
            self._swap(version)
        return version

    def _swap(self, version: str) -> None:
        loaded = self.registry.load(version)
        self.registry.activate(version)
        self._live = loaded
        self._checked = time.monotonic()

    def retrain(self, *, activate: bool = True, isolated: bool = False, **params: Any) -> dict[str, Any]:
        """Train on the whole store, register a new version with its calibration and in-sample
        evaluation (``evaluation.json``), then make it live. A failure changes nothing.

        ``isolated`` trains in a child process (``recommender.jobs``), so that a serving process
        keeps its CPU and GIL for requests; the switch happens here either way.
        """
        with self._retrain_lock:
            if isolated and self.registry.root.resolve() == (self.store.path.parent / "models").resolve():
                from recommender.jobs import retrain_in_child

                version = retrain_in_child(self.store.path.parent, params, retrain_job)
                if activate:
                    self._swap(version)
            else:
                with self._lock:
                    version = self._retrain_locked(activate=activate, **params)
        return self.model_summary(version)

    def activate(self, version: str) -> dict[str, Any]:
        """Verify a version, point ``current`` at it and swap the live model in one assignment."""
        with self._lock:
            self._swap(version)
        return self.model_summary(version)

    # -- answers --------------------------------------------------------------------------------
    def answers_job(self) -> Callable[[str, int], None]:
        return answers_job

    def _rank(self, code: str, task: str, k: int, candidates: str, model: str | None = None, *,
              live: LoadedModel | None = None, revision: int | None = None) -> tuple[Answer, Ranking]:
        """The reference path: one answer computed from the model and the store (``recommend``
        answers from the answer table where it holds the query, built by this very method)."""
        target = registry().get(task)
        live = self.live() if live is None else live
        revision = self.store.revision() if revision is None else revision
        ann = self.annotator(live, revision)
        pool, _ = candidate_pool(self.catalogue(revision), target, code, candidates)
        kinds = KINDS if candidates == "all" else (candidates,)
        ranking = rank_query(live.model, ann, self.builder, target, code, pool, kinds, k,
                             self.intermediate_runs().get(target.id), self.measured_cells(), model)
        for kind, d in ranking.decisions.items():
            if d.advice == "measure first":
                d.costs = run_costs(target, ranking.entries[kind], d.advice_sources)
        answer = Answer(
            query=Query(language=code, language_name=language_name(code), task=target.id, k=k,
                        candidates=candidates, model=model or None),  # type: ignore[arg-type]
            model_version=live.version, interval_level=ann.interval_level(), noise_threshold=NOISE_THRESHOLD,
            decisions=ranking.decisions, baseline=Baseline(**ann.baseline(target.id)),
            warnings=self.answer_warnings(live, revision, target, code, candidates))
        return answer, ranking

    def answer_warnings(self, live: LoadedModel, revision: int, target: Task, code: str,
                        candidates: str) -> list[str]:
        """An answer's warnings: coverage, then the candidates', then the published findings (intermediate)."""
        _, warnings = candidate_pool(self.catalogue(revision), target, code, candidates)
        findings = list(published_findings(target)) if candidates in ("all", "intermediate") else []
        return self.annotator(live, revision).coverage(code, target.id) + warnings + findings

    def intermediate_runs(self) -> dict[str, TaskRuns]:
        """Measured intermediate gains per target task (cached per store revision)."""
        from recommender.answers.neighbours import task_runs, unlearned_sources
        from recommender.model.dataset import group_queries

        def build() -> dict[str, TaskRuns]:
            runs = self.store.query()
            return task_runs(group_queries(runs, scales=self.store.scales()), unlearned_sources(runs))

        return dict(self._listing("intermediate_runs", build))

    def measured_cells(self) -> MeasuredCells:
        """Every measured cell of the store (cached per store revision): the measured rung."""
        return self._listing("measured_cells", lambda: measured_cells(self.store.query(), self.store.scales()))

    def recommend(self, language: str, task: str, k: int = 3, candidates: str = "all",
                  model: str | None = None) -> Answer:
        """Ranked sources for one (target task, target language): both decisions, each ranked within
        its own kind (``candidates`` leaves the other one empty). ``model``: measured cells count only
        runs of models whose name contains it. From the answer table where it holds the query."""
        body, answer = self._answer(language, task, k, candidates, model, None)
        return answer if answer is not None else Answer.model_validate_json(body or b"")

    def recommend_json(self, language: str, task: str, k: int = 3, candidates: str = "all",
                       model: str | None = None, revision: int | None = None) -> bytes:
        """``recommend`` as the REST body (compact JSON), with no ``Answer`` built where the table holds
        it; ``revision``: the caller's reading of the store's revision."""
        body, answer = self._answer(language, task, k, candidates, model, revision)
        return body if body is not None else compact(answer.as_dict() if answer else {}).encode()

    def _answer(self, language: str, task: str, k: int, candidates: str, model: str | None,
                revision: int | None) -> tuple[bytes | None, Answer | None]:
        check_k(k)
        check_kind(candidates)
        model = check_model(model)
        body = self.table_body(language, task, k, candidates, revision) if model is None else None
        if body is not None:
            return body, None
        return None, self._rank(resolve_target(language), task, k, candidates, model)[0]

    def recommend_many(self, task: str, languages: Sequence[str] | None = None, *, k: int = 3,
                       candidates: str = "all", progress: Progress | None = None,
                       ) -> list[tuple[Answer, Ranking]]:
        """``recommend`` for many target languages (default: every measured target of ``task``)."""
        check_k(k)
        check_kind(candidates)
        target = registry().get(task)
        codes = list(dict.fromkeys(resolve_target(x) for x in languages)) if languages else \
            self.catalogue().measured.get(target.id, [])
        if not codes:
            raise InvalidRequest(f"no target languages for {target.id}: pass --languages, or import runs of it")
        out = []
        for n, code in enumerate(codes, start=1):
            out.append(self._rank(code, target.id, k, candidates))
            if progress:
                progress("languages", n, len(codes))
        return out

    def recommend_batch(self, queries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """One result per query, in order: ``{"index", "result", "error"}``; a bad query fails alone."""
        out: list[dict[str, Any]] = []
        for i, q in enumerate(queries):
            try:
                result = self.recommend(q["language"], q["task"], k=q.get("k", 3),
                                        candidates=q.get("candidates", "all"), model=q.get("model"))
                out.append({"index": i, "result": result.as_dict(), "error": None})
            except StepstoneError as exc:
                err: dict[str, Any] = {"detail": str(exc), "type": type(exc).__name__}
                if hasattr(exc, "suggestions"):
                    err.update(value=getattr(exc, "value", None), suggestions=exc.suggestions)
                out.append({"index": i, "result": None, "error": err})
        return out

    def explain(self, language: str, task: str, source: str) -> dict[str, Any]:
        """One candidate as ``recommend`` answers it (the same rank, gain, interval and reasons),
        with every feature contribution behind a model item (ranker and gain model)."""
        target = registry().get(task)
        code = resolve_target(language)
        answer, ranking = self._rank(code, target.id, 1, "all")
        kind, rank, entry = find_entry(ranking.entries, target, code, source)
        live = self.live()
        ann = self.annotator(live, self.store.revision())
        row = entry.row
        if entry.basis == MODEL and row is not None and not entry.why:
            entry.why, more = ann.reasons(ranking.Z, ranking.scores, target.id, [code] * len(ranking.sources),
                                          ranking.sources, ranking.pools, [row], max_peers=PEERS)[row]
            entry.caveats = [*entry.caveats, *more]
        out: dict[str, Any] = {"query": {"language": code, "language_name": language_name(code), "task": target.id},
                               "candidates": len(ranking.entries[kind]), **entry.item(rank).model_dump(mode="json"),
                               "interval_level": answer.interval_level, "warnings": answer.warnings,
                               "model_version": answer.model_version}
        if entry.basis == MODEL and row is not None:
            for name, booster in (("ranker", live.model.ranker_), ("gain_model", live.model.gain_)):
                if booster is not None:
                    out[name] = contribution_table(ann.explainer, booster, ranking.Z, row, ranking.pools[row],
                                                   ranking.scores, target.id, code, ranking.sources[row])
        return out

    def report(self, task: str, languages: Sequence[str] | None = None, *, k: int = 3,
               candidates: str = "all", progress: Progress | None = None) -> Any:
        """A ranking report (``evaluation.report.Report``) built from exactly what ``recommend`` answers."""
        from recommender.evaluation.report import build_report

        t0 = time.perf_counter()
        answers = self.recommend_many(task, languages, k=k, candidates=candidates, progress=progress)
        live = self.live()
        meta = {**live.meta, "evaluation": self.registry.evaluation(live.version)}
        provenance = self.store.counts("dataset", "model", "target_task")
        out = build_report(registry().get(task), k, live.version, meta, answers, provenance, time.perf_counter() - t0)
        from recommender.evaluation.comparison import multilingual_vs_english
        from recommender.model.dataset import group_queries
        codes = {lang.code for lang in out.languages}
        rows = multilingual_vs_english(group_queries(self.store.query()), out.task)
        out.extra["multilingual_vs_english"] = [r for r in rows if r["language"] in codes]
        return out

    def evaluate(self, runs: Sequence[Run] | None = None, **options: Any) -> dict[str, Any]:
        """Cross-validated ranking quality on ``runs`` (default: the whole store); see ``evaluation.crossval``."""
        from recommender.evaluation.crossval import evaluate_runs

        return evaluate_runs(self.store.query() if runs is None else runs, **options)

    def gauges(self) -> dict[str, Any]:
        """Figures for ``/metrics``: runs in the store, the live and registered model versions."""
        live = self._live
        return {"runs": self.store.count(), "model_version": live.version if live else None,
                "models": len(self.registry.versions()), "store_revision": self.store.revision()}

    def health(self) -> dict[str, Any]:
        """The version serving now (following ``current``) and the runs in the store."""
        return {"status": "ok", "model_version": self.live().version, "runs": self.store.count()}

    def plan(self, task: str, languages: Sequence[str], *, candidates: str = "all", budget: int | None = None,
             gpu_hours: float | None = None, tokens_per_second: float | None = None,
             model: str | None = None) -> dict[str, Any]:
        """Up to ``budget`` unmeasured cells (or what ``gpu_hours`` pays for) to measure next; see ``planning``."""
        from recommender.planning.plan import build_plan, check_budget, check_languages

        budget, gpu_hours = check_budget(budget, gpu_hours)
        check_kind(candidates)
        target = registry().get(task)
        codes = check_languages([resolve(x) for x in languages])
        live = self.live()
        runs = [r for code in codes for r in self.store.query(target_language=code)]
        out = build_plan(live.model, live.calibration, self.builder, self.catalogue(), target, codes, runs,
                         candidates=candidates, budget=budget, gpu_hours=gpu_hours,
                         tokens_per_second=tokens_per_second, setting_model=model or None)
        return {**out, "model_version": live.version}


def retrain_job(home: str, params: dict[str, Any], answer: Any) -> None:
    """The child of ``Service.retrain(isolated=True)`` (``recommender.jobs``): train and register one
    version under ``home`` without switching to it, build its answer table, answer over the pipe."""
    os.environ["STEPSTONE_HOME"] = home
    os.nice(10)  # a background job: the server that started it keeps the CPU for its requests
    try:
        service = Service()
        version = service.retrain(activate=False, **params)["version"]
        service.prepare_answers(version)  # the activation that follows finds its answers ready
    except StepstoneError as exc:
        answer.send({"error": type(exc).__name__, "detail": str(exc)})
        raise SystemExit(1) from None
    answer.send({"version": version})


def answers_job(home: str, niceness: int) -> None:
    """A child that builds the live model (the default one, on first use) and its answer table."""
    os.environ["STEPSTONE_HOME"] = home
    if niceness:
        os.nice(niceness)
    service = Service()
    service.live()
    service.prepare_answers()


__all__ = ["Service", "MAX_K"]
