"""Service functions behind the REST API's admin and batch endpoints; each takes a ``Service``.

Runs (validated import, paginated listing), model versions (retrain with an evaluation summary,
listing, activation), batch recommendations and the gauges that ``/metrics`` exposes. The API's
routes call these and nothing else; the CLI may call them too.

Every write keeps the store and the live model consistent under a crash: an import is one
SQLite transaction, a new version is written beside the others and renamed into place, and the
``current`` pointer and the live model are switched only after the new model loaded and verified.

``python -m recommender.admin retrain '{}'`` trains and registers one version (without switching)
and prints ``{"version": …}``: the API's ``POST /v1/models`` runs it as a child process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from feature_store import errors
from feature_store.errors import InvalidRun, StepstoneError
from feature_store.paths import atomic_write_bytes
from feature_store.runs import ImportResult, Run, parse_csv_text, parse_jsonl_text, parse_records
from recommender.dataset import TrainingSet
from recommender.model import TransferRanker
from recommender.service import Service

MAX_PAGE = 1000
FORMATS = ("json", "csv", "jsonl")
EVALUATION_FILE = "evaluation.json"

# One retrain at a time per process: two concurrent requests would train the same data twice.
_retrain_lock = threading.Lock()


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
    return service.import_runs(runs)


def list_runs(service: Service, *, limit: int = 100, offset: int = 0,
              **filters: str | None) -> dict[str, Any]:
    """One page of runs matching the filters (exact match, languages resolved), in import order."""
    limit = max(1, min(int(limit), MAX_PAGE))
    offset = max(0, int(offset))
    total = service.store.count(**filters)  # the store rejects unknown filters and skips empty ones
    runs = service.store.query(limit=limit, offset=offset, **filters)
    nxt = offset + len(runs)
    return {"total": total, "limit": limit, "offset": offset,
            "next_offset": nxt if nxt < total else None, "runs": [r.as_dict() for r in runs]}


# -- models -------------------------------------------------------------------------------------
def model_summary(service: Service, version: str, meta: Mapping[str, Any], current: str | None) -> dict[str, Any]:
    keys = ("created_at", "runs", "queries", "rows", "fingerprint", "train_seconds")
    return {"version": version, "current": version == current, **{k: meta.get(k) for k in keys},
            "calibration": meta.get("calibration"), "evaluation": _evaluation(service, version)}


def list_models(service: Service) -> list[dict[str, Any]]:
    """Every registered version, oldest first; a version whose meta.json is unreadable is flagged."""
    reg = service.registry
    current = reg.current()
    out = []
    for version in reg.versions():
        try:
            out.append(model_summary(service, version, reg.meta(version), current))
        except StepstoneError as exc:
            out.append({"version": version, "current": version == current, "error": str(exc)})
    return out


def current_model(service: Service) -> dict[str, Any]:
    """The version serving requests now (loaded and verified)."""
    live = service.live()
    return model_summary(service, live.version, live.meta, live.version)


def activate(service: Service, version: str) -> dict[str, Any]:
    """Verify a version, point ``current`` at it and swap the live model in one assignment."""
    service.activate(version)
    return current_model(service)


def evaluate_in_sample(model: TransferRanker, ts: TrainingSet) -> dict[str, Any]:
    """A cheap summary over the training queries: in-sample, so optimistic; not a held-out estimate.

    The metrics are ``recommender.metrics``' (ndcg@3, top-1 loss in %, regret@k, spearman, gain MAE),
    averaged over queries; ``stepstone evaluate`` gives the cross-validated figures.
    """
    from recommender.metrics import mean_metrics, query_metrics

    per_query = []
    for qi, q in enumerate(ts.queries):
        Z = model.design(ts.X[ts.rows(qi)], q.target_task, q.sources)
        per_query.append(query_metrics(q.scores, model.score(Z), q.gains, model.predict_gain(Z)))
    return {"kind": "in-sample", "queries": len(ts.queries), "rows": int(len(ts.X)),
            "metrics": mean_metrics(per_query)}


def _evaluation_path(service: Service, version: str) -> Path:
    return service.registry.versions_dir / version / EVALUATION_FILE


def _evaluation(service: Service, version: str) -> dict[str, Any] | None:
    try:
        return dict(json.loads(_evaluation_path(service, version).read_text()))
    except (OSError, ValueError):
        return None


def retrain(service: Service, *, activate: bool = True, isolated: bool = False, **params: Any) -> dict[str, Any]:
    """Train on the whole store, register a new version, evaluate it, then make it live.

    ``Service.retrain`` trains and registers (without switching); the in-sample evaluation is
    written beside the version (``evaluation.json``, informational, not part of the checksummed
    model). ``isolated`` trains in a child process (``python -m recommender.admin retrain``) so
    that training does not hold this process's GIL while it serves requests; the switch to the new
    version happens here either way. A failure before the switch leaves the current model serving.
    """
    with _retrain_lock:
        if isolated:
            version = _retrain_in_child(service, params)
        else:
            version = _train_and_register(service, params)
        if activate:
            service.activate(version)
        return model_summary(service, version, service.registry.meta(version), service.registry.current())


def _train_and_register(service: Service, params: dict[str, Any]) -> str:
    result = service.retrain(activate=False, summarise=evaluate_in_sample, **params)
    version = str(result["version"])
    atomic_write_bytes(_evaluation_path(service, version),
                       json.dumps(result["summary"], allow_nan=True).encode())
    return version


def child_command(params: dict[str, Any]) -> list[str]:
    return [sys.executable, "-m", "recommender.admin", "retrain", json.dumps(params)]


def _retrain_in_child(service: Service, params: dict[str, Any]) -> str:
    home = service.store.path.parent
    if service.registry.root.resolve() != (home / "models").resolve():
        return _train_and_register(service, params)  # a registry outside the home: train here
    env = {**os.environ, "STEPSTONE_HOME": str(home)}
    proc = subprocess.run(child_command(params), env=env, capture_output=True, text=True, check=False)
    try:
        answer = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise RuntimeError(f"retrain process failed (exit {proc.returncode}): {proc.stderr[-2000:]}") from None
    if "error" in answer:
        cls = getattr(errors, str(answer["error"]), None)
        if isinstance(cls, type) and issubclass(cls, StepstoneError) and cls not in (
                errors.UnknownLanguage, errors.UnknownTask, errors.InvalidRun, errors.InvalidData):
            raise cls(str(answer["detail"]))
        raise RuntimeError(f"retrain process failed: {answer['error']}: {answer['detail']}")
    return str(answer["version"])


def _main(argv: Sequence[str]) -> int:
    """``python -m recommender.admin retrain '<params as JSON>'``: train and register, print one JSON line."""
    if len(argv) != 2 or argv[0] != "retrain":
        print("usage: python -m recommender.admin retrain '<params as JSON>'", file=sys.stderr)
        return 2
    os.nice(10)  # a background job: the server that started it keeps the CPU for its requests
    try:
        version = _train_and_register(Service(), dict(json.loads(argv[1])))
    except StepstoneError as exc:
        print(json.dumps({"error": type(exc).__name__, "detail": str(exc)}))
        return 1
    print(json.dumps({"version": version}))
    return 0


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


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
