"""The rules a learned ranker has to beat, as rankings of one query's sources.

Each rule returns a score per source (higher is better). Ties are left as ties: the metrics
take the expectation over random tie-breaks (``metrics``), so ``random`` is a constant.

- ``random`` — no preference: the expected value of a random pick.
- ``english`` — the English source of the target task (plain zero-shot from English); no
  preference where it is not a candidate (the English target, self excluded).
- ``best_on_average`` — the source with the best mean score over the training queries of the
  same setting; sources never seen there come after, ordered by their mean within-query
  percentile over all training queries (what is left under leave-one-task-out).
- ``nearest_<distance>`` — the source whose language is closest to the target's under one URIEL
  distance (unknown distances last).
- ``oracle`` — the measured scores themselves.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from feature_store.features import ENGLISH, FEATURE_NAMES, Source
from feature_store.lang_features import DISTANCES
from feature_store.tasks import canonical_task
from recommender.model.dataset import Query, Setting
from recommender.model.ranks import percentiles

BASELINES: tuple[str, ...] = ("random", "english", "best_on_average",
                              *(f"nearest_{d}" for d in DISTANCES), "oracle")


def _general_key(query: Query, source: Source) -> tuple[bool, str, str]:
    """A source described across settings: same task as the target?, its task, its language."""
    same = canonical_task(source.task) == query.task_id
    return (same, "" if same else source.task, source.language)


class BestOnAverage:
    """Mean score of each source over training queries (scikit-learn style: fit, then predict)."""

    def fit(self, queries: Sequence[Query]) -> BestOnAverage:
        by_setting: dict[tuple[Setting, Source], list[float]] = defaultdict(list)
        general: dict[tuple[bool, str, str], list[float]] = defaultdict(list)
        for q in queries:
            for s, score, pct in zip(q.sources, q.scores, percentiles(q.scores), strict=True):
                by_setting[(q.setting, s)].append(float(score))
                general[_general_key(q, s)].append(float(pct))
        self.mean_ = {k: float(np.mean(v)) for k, v in by_setting.items()}
        gains: dict[tuple[Setting, Source], list[float]] = defaultdict(list)
        for q in queries:
            for s, g in zip(q.sources, q.gains, strict=True):
                if np.isfinite(g):
                    gains[(q.setting, s)].append(float(g))
        self.gain_ = {k: float(np.mean(v)) for k, v in gains.items()}
        self.general_ = {k: float(np.mean(v)) for k, v in general.items()}
        return self

    def predict(self, query: Query) -> np.ndarray:
        """Mean training score per source; unseen sources below every seen one."""
        seen = np.array([self.mean_.get((query.setting, s), np.nan) for s in query.sources])
        fallback = np.array([self.general_.get(_general_key(query, s), -1.0) for s in query.sources])
        floor = np.nanmin(seen) if np.isfinite(seen).any() else 0.0
        # Unseen sources sit below the worst seen one, in the order of their general percentile.
        return np.where(np.isfinite(seen), seen, floor - 2.0 + fallback)

    def predict_gain(self, query: Query) -> np.ndarray:
        return np.array([self.gain_.get((query.setting, s), np.nan) for s in query.sources])


def english(query: Query) -> np.ndarray:
    return np.array([float(s.language == ENGLISH and canonical_task(s.task) == query.task_id)
                     for s in query.sources])


def nearest(X: np.ndarray, distance: str) -> np.ndarray:
    """Minus the distance of each source's language to the target (from the feature matrix)."""
    d = X[:, FEATURE_NAMES.index(f"dist_{distance}")]
    return np.where(np.isnan(d), -np.inf, -d)


def predictions(query: Query, X: np.ndarray, boa: BestOnAverage) -> dict[str, np.ndarray]:
    """Every baseline's scores for one query; ``X`` is its feature matrix (n_sources, n_features)."""
    out = {"random": np.zeros(len(query.sources)), "english": english(query),
           "best_on_average": boa.predict(query)}
    for d in DISTANCES:
        out[f"nearest_{d}"] = nearest(X, d)
    out["oracle"] = np.asarray(query.scores, dtype=float)
    return out
