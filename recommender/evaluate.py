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
from feature_store.features import FEATURE_GROUPS
from feature_store.lang_features import get_language_features
from feature_store.runs import Run
from recommender import baselines as bl
from recommender.dataset import Query, TrainingSet, assemble, group_queries
from recommender.metrics import METRICS, mean_metrics, query_metrics
from recommender.model import TransferRanker

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
        for qi in test_ids:
            q = ts.queries[qi]
            X = ts.X[ts.rows(qi)]
            preds: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
            for name, m in variants.items():
                Z = m.design(X, q.target_task, q.sources)
                preds[name] = (m.score(Z), m.predict_gain(Z) if name == "ranker" else None)
            for name, pred in bl.predictions(q, X, boa).items():
                gain = boa.predict_gain(q) if name == "best_on_average" else None
                preds[f"baseline:{name}"] = (pred, gain)
            records.append({"query": qi, "metrics": {
                name: query_metrics(q.scores, pred, q.gains, gain) for name, (pred, gain) in preds.items()}})
    return records


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
    return {"split": split, "exclude_self": exclude_self, "settings": _summarise(queries, records, ablations),
            "seconds": round(time.perf_counter() - t0, 2)}


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
        out.append(entry)
    return out


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
