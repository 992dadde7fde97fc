"""The per-task blend on top of the trees (see ``recommender.model.ranker``'s docstring).

``BlendedBooster`` wraps a LightGBM booster and adds ``Σ_j c_j · Z[:, j]`` over a few rule
columns per target task, keeping exact per-feature contributions (``pred_contrib``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightgbm as lgb
import numpy as np

TASK_CODE = "target_task_code"
RULE_DISTANCES = ("syntactic", "phonological", "inventory", "featural", "genetic", "geographic")
# Candidate blends: (weight of the trees, weight of the prior, distance or None, its weight).
CANDIDATES: tuple[tuple[float, float, str | None, float], ...] = (
    (1.0, 0.0, None, 0.0), (0.0, 1.0, None, 0.0), (0.5, 0.5, None, 0.0),
    *((0.0, 0.5, d, 0.5) for d in RULE_DISTANCES),
    *((0.0, 0.75, d, 0.25) for d in RULE_DISTANCES),
    *((1 / 3, 1 / 3, d, 1 / 3) for d in RULE_DISTANCES),
)
INNER_FOLDS = 3
NDCG_WEIGHT = 10.0  # the inner-CV objective: top-1 loss (%) + 10 × (1 − NDCG@3)


def _query_spread(values: np.ndarray, group: np.ndarray) -> float:
    """Mean within-query standard deviation of a column (NaNs ignored); 1.0 when degenerate."""
    out, start = [], 0
    for n in group:
        v = values[start:start + n]
        start += n
        v = v[np.isfinite(v)]
        if len(v) > 1:
            out.append(v.std())
    spread = float(np.mean(out)) if out else 0.0
    return spread if spread > 1e-9 else 1.0


class BlendedBooster:
    """A LightGBM booster plus a per-task linear blend over columns of its input (see module doc).

    ``blend["tasks"]`` maps a target task id to ``[w_trees, {column name: coefficient}, notes]``;
    ``tasks`` is the model's task vocabulary, the meaning of the ``target_task_code`` column (an
    index into it; NaN for a task outside it, one the registry did not hold when the model was
    trained, which gets the trees alone).
    ``predict(Z)`` and ``predict(Z, pred_contrib=True)`` behave like ``lgb.Booster.predict``; the
    contributions of the blend are ``c_j · Z[:, j]`` (missing values filled), added to column j.
    """

    def __init__(self, booster: lgb.Booster, blend: dict[str, Any] | None, feature_names: Sequence[str],
                 tasks: Sequence[str]) -> None:
        self.booster = booster
        self.blend = blend or {}
        names = list(feature_names)
        entries: dict[str, list[Any]] = dict(self.blend.get("tasks", {}))
        used = sorted({names.index(c) for e in entries.values() for c in dict(e[1])})
        self._cols = np.array(used, dtype=int)
        self._task_col = names.index(TASK_CODE) if TASK_CODE in names else None
        # one row per vocabulary entry, plus a last row (trees alone) for unknown tasks
        self._w = np.ones(len(tasks) + 1)
        self._coef = np.zeros((len(tasks) + 1, len(used)))
        for i, task in enumerate(tasks):
            entry = entries.get(task)
            if entry is None:
                continue
            self._w[i] = float(entry[0])
            for name, value in dict(entry[1]).items():
                self._coef[i, used.index(names.index(name))] = float(value)
        fill = dict(self.blend.get("fill", {}))
        self._fill = np.array([float(fill.get(names[c], 0.0)) for c in used])

    def _rows(self, Z: np.ndarray) -> np.ndarray:
        unknown = len(self._w) - 1
        if self._task_col is None:
            return np.full(len(Z), unknown)
        codes = Z[:, self._task_col]
        ok = np.isfinite(codes) & (codes >= 0) & (codes < unknown)
        return np.where(ok, np.nan_to_num(codes), unknown).astype(int)

    def predict(self, Z: np.ndarray, pred_contrib: bool = False, num_threads: int = 1,
                **kwargs: Any) -> np.ndarray:
        Z = np.asarray(Z, dtype=float)
        base = np.asarray(self.booster.predict(Z, pred_contrib=pred_contrib, num_threads=num_threads, **kwargs))
        if not len(self._cols) and not self.blend:
            return base
        rows = self._rows(Z)
        w, coef = self._w[rows], self._coef[rows]
        values = Z[:, self._cols]
        values = np.where(np.isnan(values), self._fill, values)
        if pred_contrib:
            out = base * w[:, None]
            out[:, self._cols] += coef * values
            return out
        return base * w + (coef * values).sum(axis=1)

    def num_feature(self) -> int:
        return int(self.booster.num_feature())

    def feature_name(self) -> list[str]:
        return list(self.booster.feature_name())

    def save_model(self, filename: str) -> None:
        self.booster.save_model(filename)


class _Padded:
    """Queries as one padded (n_queries, max_sources) matrix, for fast metrics of many rankings.

    Used only to choose the blend: top-1 loss and NDCG@3 with ties broken by position (the
    evaluation's ``metrics`` average over ties instead).
    """

    def __init__(self, scores: Sequence[np.ndarray]) -> None:
        from recommender.model.dataset import relevance

        self.n = np.array([len(s) for s in scores])
        width = int(self.n.max())
        self.mask = np.arange(width)[None, :] < self.n[:, None]
        self.scores = np.zeros((len(scores), width))
        self.rel = np.zeros((len(scores), width))
        for i, s in enumerate(scores):
            self.scores[i, :len(s)] = s
            self.rel[i, :len(s)] = relevance(np.asarray(s))
        self.oracle = self.scores.max(axis=1, where=self.mask, initial=-np.inf)
        disc = 1.0 / np.log2(np.arange(3) + 2.0)
        ideal = -np.sort(-self.rel, axis=1)[:, :3]
        self.disc = disc
        self.ideal = (ideal * disc[:ideal.shape[1]]).sum(axis=1)

    def evaluate(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(top-1 loss %, NDCG@3) per query of the ranking given as one flat row-ordered array."""
        pred = np.full(self.mask.shape, -np.inf)
        pred[self.mask] = flat
        rows = np.arange(len(pred))
        top = np.argmax(pred, axis=1)
        ok = self.oracle > 0
        loss = np.where(ok, 100.0 * (self.oracle - self.scores[rows, top]) / np.where(ok, self.oracle, 1.0), 0.0)
        order = np.argsort(-pred, axis=1, kind="stable")[:, :3]
        dcg = (self.rel[rows[:, None], order] * self.disc[:order.shape[1]]).sum(axis=1)
        ndcg = np.where(self.ideal > 0, dcg / np.where(self.ideal > 0, self.ideal, 1.0), 1.0)
        return loss, ndcg
