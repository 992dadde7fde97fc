"""The source prior: how well each source did, on average, for other targets of the same task.

``fit_prior`` gives each source's mean within-query percentile and mean gain over the training
queries; ``loo_prior_rows`` gives the same per training row with the row's own target language
left out, as it will be for a new language.
"""

from __future__ import annotations

import functools

import numpy as np

from feature_store.features import Source
from feature_store.tasks import canonical_task
from recommender.model.dataset import Query, TrainingSet
from recommender.model.ranks import percentiles

PRIOR_NAMES = ("prior_percentile", "prior_gain", "prior_count")
PriorKey = tuple[str, str, str]  # (target task id, source task id, source language)


@functools.lru_cache(maxsize=65536)
def prior_key(target_task: str, source: Source) -> PriorKey:
    return (canonical_task(target_task), "+".join(canonical_task(p) for p in source.task.split("+")),
            source.language)


def _query_parts(q: Query) -> tuple[list[PriorKey], np.ndarray]:
    """A query's prior keys and percentiles, computed once per query object (folds reuse them)."""
    cached = q.__dict__.get("_prior_parts")
    if cached is None:
        cached = ([prior_key(q.target_task, s) for s in q.sources], percentiles(q.scores))
        q.__dict__["_prior_parts"] = cached
    return cached


def _prior_arrays(ts: TrainingSet) -> tuple[list[PriorKey], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(distinct keys, key index per row, language index per row, percentile per row, gain per row)."""
    index: dict[PriorKey, int] = {}
    langs: dict[str, int] = {}
    key_ids, lang_ids, pcts = [], [], []
    for q in ts.queries:
        keys, pct = _query_parts(q)
        lang = langs.setdefault(q.target_language, len(langs))
        key_ids += [index.setdefault(k, len(index)) for k in keys]
        lang_ids += [lang] * len(keys)
        pcts.append(pct)
    gains = np.concatenate([q.gains for q in ts.queries]) if ts.queries else np.zeros(0)
    pct_all = np.concatenate(pcts) if pcts else np.zeros(0)
    return list(index), np.array(key_ids, dtype=np.int64), np.array(lang_ids, dtype=np.int64), pct_all, gains


def _sums(idx: np.ndarray, pct: np.ndarray, gains: np.ndarray, size: int) -> np.ndarray:
    ok = np.isfinite(gains)
    return np.stack([np.bincount(idx, minlength=size).astype(float), np.bincount(idx, pct, size),
                     np.bincount(idx, np.where(ok, gains, 0.0), size), np.bincount(idx, ok.astype(float), size)])


def fit_prior(ts: TrainingSet) -> dict[PriorKey, tuple[float, float, int]]:
    """Mean percentile and mean gain of each source over the training queries."""
    keys, key_ids, _, pct, gains = _prior_arrays(ts)
    n, p, g, gn = _sums(key_ids, pct, gains, len(keys))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_g = np.where(gn > 0, g / np.maximum(gn, 1), np.nan)
    return {k: (float(p[i] / n[i]), float(mean_g[i]), int(n[i])) for i, k in enumerate(keys)}


def loo_prior_rows(ts: TrainingSet) -> np.ndarray:
    """Prior features of the training rows, each leaving out its own target language.

    Shape (n_rows, len(PRIOR_NAMES)). Fitted on all training queries, the prior would include the
    row's own score and look more reliable while training than it is for a new target.
    """
    keys, key_ids, lang_ids, pct, gains = _prior_arrays(ts)
    total = _sums(key_ids, pct, gains, len(keys))[:, key_ids]
    pair = key_ids * (int(lang_ids.max()) + 1 if len(lang_ids) else 1) + lang_ids
    _, pair_ids = np.unique(pair, return_inverse=True)
    own = _sums(pair_ids, pct, gains, int(pair_ids.max()) + 1 if len(pair_ids) else 0)[:, pair_ids]
    n, p, g, gn = total - own
    out = np.empty((len(key_ids), len(PRIOR_NAMES)))
    with np.errstate(invalid="ignore", divide="ignore"):
        out[:, 0] = np.where(n > 0, p / np.maximum(n, 1), np.nan)
        out[:, 1] = np.where(gn > 0, g / np.maximum(gn, 1), np.nan)
    out[:, 2] = n
    return out
