"""Service functions behind the REST API's admin and batch endpoints; each takes a ``Service``.

Runs (validated import, paginated listing), model versions (retrain with an evaluation summary,
listing, activation), batch recommendations and the gauges that ``/metrics`` exposes. The API's
routes call these and nothing else; the CLI may call them too.

Every write keeps the store and the live model consistent under a crash: an import is one
SQLite transaction, a new version is written beside the others and renamed into place, and the
``current`` pointer and the live model are switched only after the new model loaded and verified.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from feature_store.errors import InvalidRequest, InvalidRun, StepstoneError
from feature_store.runs import FILTERS, ImportResult, Run, parse_csv_text, parse_jsonl_text, parse_records
from recommender.dataset import TrainingSet
from recommender.model import TransferRanker
from recommender.service import Service, train_model

MAX_PAGE = 1000
FORMATS = ("json", "csv", "jsonl")

# One retrain at a time per process: two concurrent requests would train the same data twice.
_retrain_lock = threading.Lock()


def _hook(point: str) -> None:
    """Test hook: ``STEPSTONE_TEST_PAUSE=<point>`` makes the process announce the point and stop there.

    The crash-safety tests kill a child process with SIGKILL exactly at such a point.
    """
    if os.environ.get("STEPSTONE_TEST_PAUSE") == point:
        print(f"PAUSED {point}", flush=True)
        while True:
            time.sleep(1)


# -- runs ---------------------------------------------------------------------------------------
def parse_upload(text: str, fmt: str, source: str | None = None) -> list[Run]:
    """Validate a CSV or JSONL upload whole (the same rules as ``stepstone runs import``)."""
    if fmt == "csv":
        return parse_csv_text(text, source)
    if fmt == "jsonl":
        return parse_jsonl_text(text, source)
    raise InvalidRun(f"unsupported upload format (use {', '.join(FORMATS)})", value=fmt, source=source)


def import_records(service: Service, records: Sequence[Mapping[str, Any]]) -> ImportResult:
    """Validate every record, then insert all of them in one transaction (or none)."""
    return import_runs(service, parse_records(records))


def import_text(service: Service, text: str, fmt: str, source: str | None = None) -> ImportResult:
    return import_runs(service, parse_upload(text, fmt, source))


def import_runs(service: Service, runs: Sequence[Run]) -> ImportResult:
    _hook("import")
    if os.environ.get("STEPSTONE_TEST_PAUSE") == "import-transaction":
        _pause_inside_transaction(service)
    return service.import_runs(runs)


def _pause_inside_transaction(service: Service) -> None:
    """Test hook: stop once SQLite is inside the import transaction with rows already written."""
    conn = service.store._conn

    def handler() -> int:
        if conn.in_transaction and conn.total_changes > 0:
            conn.set_progress_handler(None, 0)
            _hook("import-transaction")
        return 0

    conn.set_progress_handler(handler, 1000)


def list_runs(service: Service, *, limit: int = 100, offset: int = 0,
              **filters: str | None) -> dict[str, Any]:
    """One page of runs matching the filters (exact match, languages resolved), in import order."""
    limit = max(1, min(int(limit), MAX_PAGE))
    offset = max(0, int(offset))
    active = {k: v for k, v in filters.items() if k in FILTERS and v}
    unknown = [k for k in filters if k not in FILTERS]
    if unknown:
        raise InvalidRequest(f"unknown filter {unknown[0]!r}; use one of {', '.join(FILTERS)}")
    total = service.store.count(**active)
    runs = service.store.query(limit=limit, offset=offset, **active)
    nxt = offset + len(runs)
    return {"total": total, "limit": limit, "offset": offset,
            "next_offset": nxt if nxt < total else None, "runs": [r.as_dict() for r in runs]}


# -- models -------------------------------------------------------------------------------------
def model_summary(version: str, meta: Mapping[str, Any], current: str | None) -> dict[str, Any]:
    keys = ("created_at", "runs", "queries", "rows", "fingerprint", "train_seconds", "evaluation")
    return {"version": version, "current": version == current, **{k: meta.get(k) for k in keys}}


def list_models(service: Service) -> list[dict[str, Any]]:
    """Every registered version, oldest first; a version whose meta.json is unreadable is flagged."""
    reg = service.registry
    current = reg.current()
    out = []
    for version in reg.versions():
        try:
            out.append(model_summary(version, reg.meta(version), current))
        except StepstoneError as exc:
            out.append({"version": version, "current": version == current, "error": str(exc)})
    return out


def current_model(service: Service) -> dict[str, Any]:
    """The version serving requests now (loaded and verified)."""
    live = service.live()
    return model_summary(live.version, live.meta, live.version)


def activate(service: Service, version: str) -> dict[str, Any]:
    """Verify a version, point ``current`` at it and swap the live model in one assignment."""
    service.activate(version)
    return current_model(service)


def evaluate_in_sample(model: TransferRanker, ts: TrainingSet) -> dict[str, Any]:
    """A cheap in-sample summary over the training queries (not a held-out estimate).

    ``top1_accuracy``: share of queries whose top-ranked source is the measured best;
    ``top1_regret``: mean points lost by taking the top-ranked source instead of the best;
    ``ndcg_at_3``: mean NDCG@3 with LangRank's graded relevance.
    """
    hits, regrets, ndcgs = [], [], []
    for qi, q in enumerate(ts.queries):
        rows = ts.rows(qi)
        Z = model.design(ts.X[rows], q.target_task, q.sources)
        pred = model.score(Z)
        top = int(np.argmax(pred))
        best = float(q.scores.max())
        hits.append(float(q.scores[top] == best))
        regrets.append(best - float(q.scores[top]))
        rel = ts.relevance[rows].astype(float)
        disc = 1.0 / np.log2(np.arange(2, 5))
        gain = np.sort(rel)[::-1][:3]
        ideal = float(((2 ** gain - 1) * disc[:len(gain)]).sum())
        got = rel[np.argsort(-pred, kind="stable")][:3]
        ndcgs.append(float(((2 ** got - 1) * disc[:len(got)]).sum()) / ideal if ideal > 0 else 1.0)
    return {"kind": "in-sample", "queries": len(ts.queries), "rows": int(len(ts.X)),
            "top1_accuracy": round(float(np.mean(hits)), 4), "top1_regret": round(float(np.mean(regrets)), 4),
            "ndcg_at_3": round(float(np.mean(ndcgs)), 4)}


def retrain(service: Service, *, activate: bool = True, **params: Any) -> dict[str, Any]:
    """Train on the whole store, register a new version with its evaluation summary, then go live.

    A failure before the final swap (training, saving, verifying) leaves the current model serving.
    """
    with _retrain_lock:
        t0 = time.perf_counter()
        runs = service.store.query()
        _hook("retrain-train")
        model, ts = train_model(runs, builder=service.builder, **params)
        seconds = round(time.perf_counter() - t0, 3)
        evaluation = evaluate_in_sample(model, ts)
        meta = {"fingerprint": service.store.fingerprint(), "runs": len(runs), "queries": len(ts.queries),
                "rows": int(len(ts.X)), "train_seconds": seconds, "evaluation": evaluation}
        version = service.registry.register(model, meta, activate=False)
        _hook("retrain-registered")
        if activate:
            service.activate(version)
        summary = model_summary(version, service.registry.meta(version), service.registry.current())
        return summary


# -- recommendations ----------------------------------------------------------------------------
def recommend_batch(service: Service, queries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One result per query, in order: ``{"index", "result"}`` or ``{"index", "error"}``.

    A bad query (unknown language or task) fails alone; the others are answered.
    """
    out: list[dict[str, Any]] = []
    for i, q in enumerate(queries):
        try:
            result = service.recommend(q["language"], q["task"], k=q.get("k", 3),
                                       candidates=q.get("candidates", "all"))
            out.append({"index": i, "result": result, "error": None})
        except StepstoneError as exc:
            err: dict[str, Any] = {"detail": str(exc), "type": type(exc).__name__}
            if hasattr(exc, "suggestions"):
                err.update(value=getattr(exc, "value", None), suggestions=exc.suggestions)
            out.append({"index": i, "result": None, "error": err})
    return out


def cache_token(service: Service) -> str:
    """The live model version: results cached under it stay valid until a model swap."""
    live = service._live
    return live.version if live is not None else ""


# -- metrics ------------------------------------------------------------------------------------
def gauges(service: Service) -> dict[str, Any]:
    """Figures for ``/metrics``: runs in the store, the live and registered model versions."""
    live = service._live
    return {"runs": service.store.count(), "model_version": live.version if live else None,
            "models": len(service.registry.versions()), "store_revision": service.store.revision()}
