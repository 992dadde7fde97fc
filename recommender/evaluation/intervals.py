"""Held-out coverage of the gain intervals, leave-one-target-language-out (``stepstone evaluate``).

See ``recommender.model.calibration`` for how the intervals are calibrated.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recommender.model.calibration import (
    DEFAULT_FOLDS,
    DEFAULT_LEVEL,
    POOLED,
    calibrate,
    calibrate_residuals,
    gain_only,
)
from recommender.model.dataset import TrainingSet


def held_out_coverage(ts: TrainingSet, *, level: float = DEFAULT_LEVEL, nested: bool = False,
                      inner_folds: int = DEFAULT_FOLDS, **params: Any) -> dict[str, dict[str, float]]:
    """Empirical interval coverage on held-out queries, leave-one-target-language-out.

    Each target language in turn is held out (all its settings); a model is fitted on the other
    languages and the held-out gains are checked against their intervals. ``nested=True``
    calibrates each outer fold with ``calibrate(train)`` (``inner_folds`` extra fits per
    language: honest, slow); the default calibrates fold ``L`` from the out-of-fold residuals of
    all the *other* languages (CV+ style: one fit per language). Returns, per setting
    ``"dataset · model · task"`` and pooled (``"*"``): ``coverage``, ``rows``, ``mean_width``.
    """
    from recommender.model.ranker import TransferRanker

    langs = sorted({q.target_language for q in ts.queries})
    preds = np.full(len(ts.gains), np.nan)
    lo = np.full(len(ts.gains), np.nan)
    hi = np.full(len(ts.gains), np.nan)
    for lang in langs:
        held = [i for i, q in enumerate(ts.queries) if q.target_language == lang]
        train = [i for i, q in enumerate(ts.queries) if q.target_language != lang]
        if not train:
            continue
        sub = ts.subset(train)
        model = TransferRanker(**gain_only(params)).fit(sub)
        cal = calibrate(sub, level=level, folds=inner_folds, **params) if nested else None
        for qi in held:
            q = ts.queries[qi]
            rows = ts.rows(qi)
            preds[rows] = model.predict(ts.X[rows], q.target_task, q.sources).gains
            if cal is not None:
                lo[rows], hi[rows] = cal.intervals(preds[rows], q.task_id)
    tasks = [ts.queries[q].task_id for q in ts.query_of_row]
    row_lang = np.array([ts.queries[q].target_language for q in ts.query_of_row])
    if not nested:
        residuals = ts.gains - preds
        for lang in langs:
            rows = row_lang == lang
            cal = calibrate_residuals(np.where(rows, np.nan, residuals), tasks, level=level)
            for task in {t for t, r in zip(tasks, rows, strict=True) if r}:
                idx = rows & np.array([t == task for t in tasks])
                lo[idx], hi[idx] = cal.intervals(preds[idx], task)
    ok = np.isfinite(preds) & np.isfinite(ts.gains)
    hit = (lo <= ts.gains) & (ts.gains <= hi)
    settings = np.array([" · ".join(ts.queries[q].setting) for q in ts.query_of_row])
    out = {}
    for key in [*sorted(set(settings.tolist())), POOLED]:
        idx = ok & ((settings == key) if key != POOLED else True)
        if idx.any():
            out[key] = {"coverage": float(hit[idx].mean()), "rows": int(idx.sum()),
                        "mean_width": float((hi[idx] - lo[idx]).mean())}
    return out


__all__ = ["held_out_coverage"]
