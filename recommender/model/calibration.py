"""Prediction intervals for the predicted gain: split-conformal on cross-validated residuals.

How it works. At training time the training set is split into ``folds`` (10) groups *by target
language* (every setting of a language lands in the same fold, as in leave-one-target-language-out
evaluation). For each fold a model is fitted on the other folds and predicts the held-out rows'
gains; the out-of-fold residuals ``r = gain - predicted_gain`` are what a new target language
looks like to the model. Per target task id (``udpos``, ``xnli``, …: gains live on very
different scales per task) the interval at level ``1 - alpha`` is::

    [pred + q_lo, pred + q_hi],  q_lo = Q(alpha/2), q_hi = Q(1 - alpha/2)

with ``Q`` the conformal (finite-sample corrected) quantiles of that task's residuals, as they are:
an interval is not widened to contain the point prediction or zero gain (that would over-cover,
and would keep "skip" advice from ever firing). Intermediate-task rows also get a key of their own,
``"<task>/intermediate"``, when there are ``min_count`` of them. Keys with fewer than
``min_count`` residuals fall back to the task's, then to the quantiles pooled over all tasks (``"*"``).

Public API (used by the service at retrain/recommend time and by ``stepstone evaluate``)::

    cal = calibrate(training_set, level=0.8)                  # K-fold CV (fits `folds` models)
    cal = calibrate_residuals(residuals, task_ids, level=0.8)  # from residuals you already have
    lo, hi = cal.interval(pred_gain, "udpos")                  # one prediction
    lo, hi = cal.intervals(pred_gains, "udpos")                # arrays (same task)
    cal.to_json() / Calibration.from_json(text)                # persisted as calibration.json
    empirical_coverage(cal, task_ids, preds, gains)            # {"udpos": 0.81, ..., "*": 0.80}
    held_out_coverage(training_set, level=0.8)                 # leave-one-language-out, per setting

Evaluating coverage on held-out queries: for each held-out target language, build a
``Calibration`` from training data only, either with ``calibrate(train_ts)`` (honest, costs
``folds`` extra fits per outer fold) or, cheaper inside a leave-one-language-out loop that already
has out-of-fold predictions for every row, with ``calibrate_residuals`` on the *other* languages'
out-of-fold residuals (CV+ style). Then count held-out gains inside the interval.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from feature_store.errors import InvalidRequest
from feature_store.tasks import canonical_task
from recommender.model.dataset import Query, TrainingSet
from recommender.model.monotone import shown_gains
from recommender.model.ranks import language_folds

POOLED = "*"
DEFAULT_LEVEL = 0.8
# 10 folds hold out ~10 % of the languages each, close to the single unseen language of a new
# query; with 5 folds the models lose too much, and 9-language TyDiQA was covered at 90 %, not 80 %
DEFAULT_FOLDS = 10
METHOD = "split-conformal quantiles of grouped-CV residuals (groups: target languages), per target task"


def conformal_quantiles(residuals: np.ndarray, level: float) -> tuple[float, float]:
    """Lower/upper conformal quantiles of signed residuals, each tail getting (1 - level) / 2."""
    r = np.sort(residuals[np.isfinite(residuals)])
    n = len(r)
    if n == 0:
        return (-math.inf, math.inf)
    tail = (1.0 - level) / 2.0
    # finite-sample correction: the ceil((n + 1)(1 - tail))-th smallest value
    k_hi = math.ceil((n + 1) * (1.0 - tail))
    k_lo = math.floor((n + 1) * tail)
    hi = r[k_hi - 1] if k_hi <= n else math.inf
    lo = r[k_lo - 1] if k_lo >= 1 else -math.inf
    return (float(lo), float(hi))


@dataclass(frozen=True)
class Calibration:
    """Residual quantiles per target task id; ``interval`` turns a predicted gain into (lo, hi)."""

    level: float
    quantiles: dict[str, tuple[float, float]]
    counts: dict[str, int]
    method: str = METHOD
    meta: dict[str, Any] = field(default_factory=dict)

    def _key(self, task: str | None) -> str:
        """``task`` may be ``"<task>/intermediate"``: that key, else the task's, else the pooled one."""
        if task is not None:
            base, _, kind = task.partition("/")
            key = canonical_task(base)
            for candidate in ((f"{key}/{kind}",) if kind else ()) + (key,):
                if candidate in self.quantiles:
                    return candidate
        return POOLED

    def interval(self, pred_gain: float, task: str | None = None) -> tuple[float, float]:
        """(lo, hi) around one predicted gain; (nan, nan) for a NaN prediction."""
        lo, hi = self.quantiles[self._key(task)]
        if not math.isfinite(pred_gain):
            return (math.nan, math.nan)
        return (pred_gain + lo, pred_gain + hi)

    def intervals(self, pred_gains: np.ndarray, task: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Vectorised ``interval`` for predictions of one task: two arrays shaped like the input."""
        lo, hi = self.quantiles[self._key(task)]
        p = np.asarray(pred_gains, dtype=float)
        return p + lo, p + hi

    def width(self, task: str | None = None) -> float:
        lo, hi = self.quantiles[self._key(task)]
        return hi - lo

    def to_json(self) -> str:
        return json.dumps({"level": self.level, "method": self.method,
                           "quantiles": {k: list(v) for k, v in sorted(self.quantiles.items())},
                           "counts": dict(sorted(self.counts.items())), "meta": self.meta},
                          indent=2, allow_nan=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Calibration:
        data = json.loads(text)
        return cls(level=float(data["level"]), method=str(data.get("method", METHOD)),
                   quantiles={k: (float(v[0]), float(v[1])) for k, v in data["quantiles"].items()},
                   counts={k: int(v) for k, v in data["counts"].items()}, meta=dict(data.get("meta", {})))


def calibrate_residuals(residuals: Sequence[float] | np.ndarray, task_ids: Sequence[str], *,
                        level: float = DEFAULT_LEVEL, min_count: int = 30,
                        meta: dict[str, Any] | None = None) -> Calibration:
    """A ``Calibration`` from out-of-sample residuals (gain - predicted gain) and their tasks."""
    if not 0.0 < level < 1.0:
        raise InvalidRequest(f"interval level must be between 0 and 1, got {level!r}")
    r = np.asarray(residuals, dtype=float)
    if len(r) != len(task_ids):
        raise InvalidRequest("residuals and task ids differ in length")
    by_task: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(task_ids):
        if math.isfinite(r[i]):
            base, _, kind = t.partition("/")
            by_task[canonical_task(base)].append(i)
            if kind:
                by_task[f"{canonical_task(base)}/{kind}"].append(i)
    quantiles = {POOLED: conformal_quantiles(r, level)}
    counts = {POOLED: int(np.isfinite(r).sum())}
    for task, idx in by_task.items():
        if len(idx) >= min_count:
            quantiles[task] = conformal_quantiles(r[idx], level)
            counts[task] = len(idx)
    return Calibration(level=level, quantiles=quantiles, counts=counts, meta=dict(meta or {}))


def gain_only(params: dict[str, Any]) -> dict[str, Any]:
    """Fit parameters for models whose only use is ``predict_gain``: the blend changes the ranking, never the gain."""
    return {**params, "blend": False}


def cv_residuals(ts: TrainingSet, *, folds: int = DEFAULT_FOLDS, seed: int = 0, **params: Any) -> np.ndarray:
    """Out-of-fold residuals (gain - shown gain) per row of ``ts``; folds group target languages.

    Rows without a measured gain, or whose fold's model has no gain regressor, are NaN.
    """
    from recommender.model.ranker import TransferRanker

    params = gain_only(params)
    fold_of = language_folds([q.target_language for q in ts.queries], folds, seed)
    qfold = np.array([fold_of[q.target_language] for q in ts.queries])
    out = np.full(len(ts.gains), np.nan)
    for f in range(folds):
        held = np.flatnonzero(qfold == f)
        train = np.flatnonzero(qfold != f)
        if len(held) == 0 or len(train) == 0:
            continue
        model = TransferRanker(**params).fit(ts.subset(train.tolist()))
        for qi in held.tolist():
            q = ts.queries[qi]
            rows = ts.rows(qi)
            _, scores, gains = model.predict(ts.X[rows], q.target_task, q.sources)
            out[rows] = ts.gains[rows] - shown_per_kind(q, scores, gains)
    return out


def shown_per_kind(q: Query, scores: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """The gains an answer shows for ``q``'s sources: the gain model's, made non-increasing in the
    ranker's order within each kind (``model.monotone``). Intervals are calibrated on these, so
    that they cover what is shown."""
    same = np.array([canonical_task(s.task) == q.task_id for s in q.sources])
    out = np.full(len(gains), np.nan)
    for mask in (same, ~same):
        if mask.any():
            out[mask] = shown_gains(scores[mask], gains[mask])
    return out


def calibrate(ts: TrainingSet, *, level: float = DEFAULT_LEVEL, folds: int = DEFAULT_FOLDS, seed: int = 0,
              min_count: int = 30, **params: Any) -> Calibration:
    """Calibrate intervals for a model trained on ``ts`` with ``params`` (fits ``folds`` models)."""
    residuals = cv_residuals(ts, folds=folds, seed=seed, **params)
    tasks = row_keys(ts)
    cal = calibrate_residuals(residuals, tasks, level=level, min_count=min_count,
                              meta={"folds": folds, "seed": seed})
    cov = empirical_coverage(cal, tasks, ts.gains - residuals, ts.gains)
    return Calibration(cal.level, cal.quantiles, cal.counts, cal.method,
                       {**cal.meta, "cv_coverage": {k: round(v, 4) for k, v in cov.items()}})


def row_keys(ts: TrainingSet) -> list[str]:
    """Each row's calibration key: its target task id, ``"<task>/intermediate"`` for an intermediate source."""
    out = []
    for q in ts.queries:
        for s in q.sources:
            same = canonical_task(s.task) == q.task_id
            out.append(q.task_id if same else f"{q.task_id}/intermediate")
    return out


def empirical_coverage(cal: Calibration, task_ids: Sequence[str], preds: np.ndarray,
                       gains: np.ndarray) -> dict[str, float]:
    """Share of finite gains inside their interval, per task id and pooled (``"*"``)."""
    preds = np.asarray(preds, dtype=float)
    gains = np.asarray(gains, dtype=float)
    hit = np.zeros(len(gains), dtype=bool)
    ok = np.isfinite(preds) & np.isfinite(gains)
    keys = list(task_ids)
    for key in set(keys):
        idx = np.array([k == key for k in keys])
        lo, hi = cal.intervals(preds[idx], key)
        hit[idx] = (lo <= gains[idx]) & (gains[idx] <= hi)
    out = {key: float(hit[ok & np.array([k == key for k in keys])].mean())
           for key in sorted(set(keys)) if (ok & np.array([k == key for k in keys])).any()}
    if ok.any():
        out[POOLED] = float(hit[ok].mean())
    return out


__all__ = ["Calibration", "calibrate", "calibrate_residuals", "conformal_quantiles", "cv_residuals",
           "empirical_coverage", "row_keys", "shown_per_kind",
           "POOLED", "DEFAULT_LEVEL", "DEFAULT_FOLDS"]
