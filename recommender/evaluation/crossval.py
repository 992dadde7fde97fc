"""Cross-validated evaluation of the ranker against the baselines, per setting.

``evaluate_runs(runs, split="lolo")`` holds out one group of queries at a time — a target
language (``lolo``), a language family (``lofo``: lang2vec's top Glottolog node) or a target
task (``loto``) — trains the ranker on the rest, and scores the held-out queries with
``metrics``. The baselines (``baselines``) and the feature-group ablations see the same folds.
Whatever the ranker tunes (its blend weight, its number of trees) is tuned inside ``fit`` on the
training queries only, so nothing is ever tuned on a held-out query. Folds run in parallel
(joblib). Run it with ``stepstone evaluate`` or ``python bench/evaluate.py``.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from feature_store.errors import InvalidRequest
from feature_store.features import ENGLISH, FEATURE_GROUPS
from feature_store.lang_features import get_language_features
from feature_store.runs.run import Run
from feature_store.tasks import canonical_task
from recommender.answers.ladder import published_coverage
from recommender.answers.neighbours import held_out_coverage as neighbour_coverage
from recommender.answers.neighbours import task_runs
from recommender.evaluation import baselines as bl
from recommender.evaluation.comparison import multilingual_vs_english
from recommender.evaluation.intermediate import METHODS as INTERMEDIATE_METHODS
from recommender.evaluation.intermediate import IntermediateMethods
from recommender.evaluation.metrics import METRICS, mean_metrics, query_metrics
from recommender.model.calibration import DEFAULT_LEVEL, calibrate_residuals, shown_per_kind
from recommender.model.dataset import Query, TrainingSet, assemble, group_queries
from recommender.model.ranker import TransferRanker

SPLITS: tuple[str, ...] = ("lolo", "lofo", "loto")
ABLATIONS: tuple[str, ...] = ("linguistic", "task", "resource", "all")
LOW_RESOURCE_GIB = 1.0


def fold_key(query: Query, split: str) -> str:
    """The group a query is held out with."""
    if split == "lolo":
        return query.target_language
    if split == "lofo":
        return get_language_features().family(query.target_language)
    if split == "loto":
        return query.task_id
    raise InvalidRequest(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")


def folds(queries: Sequence[Query], split: str) -> list[tuple[list[int], list[int]]]:
    """(train query ids, test query ids) per held-out group, in a deterministic order."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, q in enumerate(queries):
        groups[fold_key(q, split)].append(i)
    out = []
    for key in sorted(groups):
        test = groups[key]
        held = set(test)
        out.append(([i for i in range(len(queries)) if i not in held], test))
    return out


def is_low_resource(language: str) -> bool:
    """CC-100 size below 1 GiB, or absent (XLM-R never saw the language)."""
    log_gib, present = get_language_features().cc100_log_gib(language)
    return not present or math.expm1(log_gib) < LOW_RESOURCE_GIB


def _ablation_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """The ranker on one feature group (no learned source prior: that is neither group)."""
    features = None if name == "all" else FEATURE_GROUPS[name]
    return {**params, "features": features, "use_prior": False, "blend": False, "gain": False}


def _run_folds(ts: TrainingSet, fold_list: list[tuple[list[int], list[int]]], params: dict[str, Any],
               ablations: bool) -> list[dict[str, Any]]:
    """Fit on each fold's training queries, score its test queries: one record per test query."""
    records = []
    for train_ids, test_ids in fold_list:
        train = ts.subset(train_ids)
        model = TransferRanker(**params).fit(train)
        variants = {"ranker": model}
        if ablations:
            for name in ABLATIONS:
                variants[f"ablation:{name}"] = TransferRanker(**_ablation_params(name, params)).fit(train)
        boa = bl.BestOnAverage().fit(train.queries)
        inter = IntermediateMethods(train.queries, get_language_features())
        for qi in test_ids:
            q = ts.queries[qi]
            X = ts.X[ts.rows(qi)]
            preds: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
            for name, m in variants.items():
                _, scores, gains = m.predict(X, q.target_task, q.sources)
                preds[name] = (scores, gains if name == "ranker" else None)
            for name, pred in bl.predictions(q, X, boa).items():
                gain = boa.predict_gain(q) if name == "best_on_average" else None
                preds[f"baseline:{name}"] = (pred, gain)
            for name, gain in inter.predictions(q).items():
                preds[f"intermediate:{name}"] = (gain, gain)
            records.append({"query": qi, "gain_pred": preds["ranker"][1],
                            "gain_shown": _shown(q, *preds["ranker"]), "metrics": {
                name: query_metrics(q.scores, pred, q.gains, gain) for name, (pred, gain) in preds.items()}})
    return records


def _shown(q: Query, scores: np.ndarray, gains: np.ndarray | None) -> np.ndarray | None:
    return None if gains is None else shown_per_kind(q, scores, gains)


def evaluate_queries(queries: list[Query], *, split: str = "lolo", exclude_self: bool = True,
                     ablations: bool = False, n_jobs: int = 2,
                     params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Evaluate already-grouped queries; returns the JSON-ready result (see ``evaluate_runs``)."""
    if split not in SPLITS:
        raise InvalidRequest(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    if not queries:
        raise InvalidRequest("no query to evaluate: every target needs two or more measured sources")
    t0 = time.perf_counter()
    ts = assemble(queries)
    fold_list = folds(queries, split)
    if len(fold_list) < 2:
        raise InvalidRequest(f"the {split} split needs two or more held-out groups; the runs have "
                             f"{len(fold_list)}")
    params = {"n_jobs": 1, **(params or {})}
    chunks = [fold_list[i::n_jobs] for i in range(n_jobs)] if n_jobs > 1 else [fold_list]
    chunks = [c for c in chunks if c]
    if len(chunks) > 1:
        from joblib import Parallel, delayed

        parts = Parallel(n_jobs=len(chunks))(delayed(_run_folds)(ts, c, params, ablations) for c in chunks)
    else:
        parts = [_run_folds(ts, c, params, ablations) for c in chunks]
    records = sorted((r for part in parts for r in part), key=lambda r: r["query"])
    settings = _summarise(queries, records, ablations)
    coverage, by_kind = interval_coverage(queries, records, split)
    for entry in settings:
        cov = coverage.get((entry["dataset"], entry["model"], entry["target_task"]))
        entry["ranker"]["interval_coverage"] = None if cov is None else round(cov[0], 4)
        entry["ranker"]["interval_width"] = None if cov is None else round(cov[1], 4)
    return {"split": split, "exclude_self": exclude_self, "settings": settings,
            "evidence_coverage": evidence_coverage(by_kind, queries),
            "multilingual_vs_english": multilingual_vs_english(queries),
            "seconds": round(time.perf_counter() - t0, 2)}


def evidence_coverage(by_kind: dict[str, tuple[float, float, int]], queries: Sequence[Query] = (),
                      level: float = DEFAULT_LEVEL) -> dict[str, dict[str, Any]]:
    """Held-out coverage of the intervals at every rung of the evidence ladder (nominal ``level``).

    ``model · language``: held-out rows of this evaluation (split as asked); ``model · intermediate``:
    the nearest-language model that answers intermediate decisions (``answers.neighbours``); the published
    rungs: ``answers.ladder.published_coverage`` (settings, or target tasks, held out one at a time).
    """
    out: dict[str, dict[str, Any]] = {}
    if "language" in by_kind:
        cov, width, rows = by_kind["language"]
        out["model · language"] = {"coverage": round(cov, 4), "rows": rows, "mean_width": round(width, 3),
                                   "how": "ranker's gain model; held-out rows of this evaluation, intervals "
                                          "calibrated on the other folds"}
    if queries:
        out["model · intermediate"] = neighbour_coverage(task_runs(queries), get_language_features(), level)
    for level_name, v in published_coverage(level).items():
        out[level_name] = v
    for v in out.values():
        v["nominal"] = level
    return out


def interval_coverage(queries: list[Query], records: list[dict[str, Any]], split: str,
                      ) -> tuple[dict[tuple[str, str, str], tuple[float, float]], dict[str, tuple[float, float, int]]]:
    """Share of held-out gains inside their prediction interval, and the mean width: per setting, and
    (with the number of rows) per candidate kind (``language``, ``intermediate``).

    CV+ style (``recommender.model.calibration``): the intervals of a held-out group are calibrated on the
    out-of-fold residuals of every *other* group, so no held-out gain calibrates its own interval.
    Intermediate rows are calibrated under their own key, as the served model does.
    """
    preds, shown, gains, tasks, groups, settings, kinds, base = [], [], [], [], [], [], [], []
    for r in records:
        q = queries[r["query"]]
        n = len(q.sources)
        pred = r["gain_pred"] if r["gain_pred"] is not None else np.full(n, np.nan)
        preds.append(pred)
        shown.append(r["gain_shown"] if r.get("gain_shown") is not None else pred)
        gains.append(q.gains)
        for s in q.sources:
            kind = "language" if canonical_task(s.task) == q.task_id else "intermediate"
            kinds.append(kind)
            base.append(kind == "language" and s.language == ENGLISH)  # its gain is 0 by definition
            tasks.append(q.task_id if kind == "language" else f"{q.task_id}/{kind}")
        groups += [fold_key(q, split)] * n
        settings += [q.setting] * n
    if not preds:
        return {}, {}

    # Intervals sit around the gain an answer shows (the gain model's made monotone in the ranker's
    # order) and are calibrated on the residuals of those shown gains, as they are served.
    pred_all, gain_all = np.concatenate(shown), np.concatenate(gains)
    residuals = gain_all - pred_all
    group_arr = np.array(groups)
    lo = np.full(len(pred_all), np.nan)
    hi = np.full(len(pred_all), np.nan)
    for g in sorted(set(groups)):
        held = group_arr == g
        if not np.isfinite(residuals[~held]).any():
            continue
        cal = calibrate_residuals(np.where(held, np.nan, residuals), tasks, level=DEFAULT_LEVEL)
        for task in sorted({t for t, h in zip(tasks, held, strict=True) if h}):
            idx = held & np.array([t == task for t in tasks])
            lo[idx], hi[idx] = cal.intervals(pred_all[idx], task)
    ok = np.isfinite(pred_all) & np.isfinite(gain_all) & np.isfinite(lo) & ~np.array(base, dtype=bool)
    inside = (lo <= gain_all) & (gain_all <= hi)
    out = {}
    setting_arr = np.array([" ".join(s) for s in settings])
    for s in sorted(set(settings)):
        idx = ok & (setting_arr == " ".join(s))
        if idx.any():
            out[s] = (float(inside[idx].mean()), float((hi[idx] - lo[idx]).mean()))
    kind_arr = np.array(kinds)
    by_kind = {}
    for kind in sorted(set(kinds)):
        idx = ok & (kind_arr == kind)
        if idx.any():
            by_kind[kind] = (float(inside[idx].mean()), float((hi[idx] - lo[idx]).mean()), int(idx.sum()))
    return out, by_kind


def _summarise(queries: list[Query], records: list[dict[str, Any]], ablations: bool) -> list[dict[str, Any]]:
    by_setting: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_setting[queries[r["query"]].setting].append(r)
    out = []
    for (dataset, model, task), recs in sorted(by_setting.items()):
        low = [r for r in recs if is_low_resource(queries[r["query"]].target_language)]

        def mean(name: str, rows: list[dict[str, Any]], metric_names: Sequence[str] = METRICS) -> dict[str, Any]:
            return mean_metrics((r["metrics"][name] for r in rows), metric_names)

        entry: dict[str, Any] = {
            "dataset": dataset, "model": model, "target_task": task, "queries": len(recs),
            "ranker": mean("ranker", recs),
            "baselines": {name: mean(f"baseline:{name}", recs) for name in bl.BASELINES},
            "ablations": {},
        }
        if ablations:
            for name in ABLATIONS:
                key = f"ablation:{name}"
                ranking = [m for m in METRICS if m != "gain_mae"]
                entry["ablations"][name] = {**mean(key, recs, ranking),
                                            "low_resource": {"queries": len(low), **mean(key, low, ranking)}}
            entry["ablations"]["ranker"] = {
                **mean("ranker", recs), "low_resource": {"queries": len(low), **mean("ranker", low)}}
        answered = [r for r in recs if "intermediate:neighbours" in r["metrics"]]
        if answered:
            entry["intermediate"] = _intermediate_summary(queries, answered)
        out.append(entry)
    return out


INTERMEDIATE_RIVALS = ("ranker", "baseline:best_on_average", "baseline:random", "baseline:english")


def _intermediate_summary(queries: list[Query], recs: list[dict[str, Any]]) -> dict[str, Any]:
    """The intermediate decision's methods and rivals on the same held-out queries, all and low-resource."""
    low = [r for r in recs if is_low_resource(queries[r["query"]].target_language)]
    names = [*(f"intermediate:{m}" for m in INTERMEDIATE_METHODS), *INTERMEDIATE_RIVALS]
    ranking = [m for m in METRICS if m != "gain_mae"]

    def label(name: str) -> str:
        return name.split(":", 1)[-1] if name != "baseline:english" else "no_intermediate"

    def summary(name: str) -> dict[str, Any]:
        low_mean = mean_metrics((r["metrics"][name] for r in low), ranking) if low else None
        return {**mean_metrics((r["metrics"][name] for r in recs), ranking), "low_resource": low_mean}

    return {"queries": len(recs), "low_resource_queries": len(low), "methods": {label(n): summary(n) for n in names}}


def evaluate_runs(runs: Sequence[Run], *, split: str = "lolo", exclude_self: bool = True,
                  ablations: bool = False, n_jobs: int = 2, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Cross-validate the ranker and the baselines on ``runs``.

    Returns ``{"split", "exclude_self", "settings": [{"dataset", "model", "target_task", "queries",
    "ranker": {metric: value}, "baselines": {name: {metric: value}}, "ablations": {...}}]}`` (plus
    ``seconds``); metrics are means over the setting's held-out queries.
    """
    queries = group_queries(runs, exclude_self=exclude_self)
    return evaluate_queries(queries, split=split, exclude_self=exclude_self, ablations=ablations,
                            n_jobs=n_jobs, params=params)
