"""The transfer ranker: LightGBM lambdarank over sources, plus a gain regressor.

Besides the static features of ``feature_store.features``, the ranker learns a *source prior*
from its training queries: how well each source did, on average, for other targets of the same
task (its mean within-query percentile and mean gain). That is the ``best_on_average`` rule as a
feature, which the trees can overrule with typology where it matters.

Estimator contract (scikit-learn style): ``__init__`` stores keyword arguments, ``fit`` returns
self, fitted state ends in ``_``, predicting before fitting raises ``NoModel``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import lightgbm as lgb
import numpy as np

from feature_store.errors import NoModel
from feature_store.features import CATEGORICAL, FEATURE_NAMES, Source
from feature_store.tasks import canonical_task
from recommender.dataset import TrainingSet

PRIOR_NAMES = ("prior_percentile", "prior_gain", "prior_count")
PriorKey = tuple[str, str, str]  # (target task id, source task id, source language)


def prior_key(target_task: str, source: Source) -> PriorKey:
    return (canonical_task(target_task), "+".join(canonical_task(p) for p in source.task.split("+")),
            source.language)


def percentiles(scores: np.ndarray) -> np.ndarray:
    """Within-query percentile of each score: 1 for the best, 0 for the worst (ties averaged)."""
    n = len(scores)
    if n < 2:
        return np.ones(n)
    order = np.argsort(np.argsort(scores, kind="stable"), kind="stable").astype(float)
    ranks = np.empty(n)
    for value in np.unique(scores):
        idx = scores == value
        ranks[idx] = order[idx].mean()
    return ranks / (n - 1)


def fit_prior(ts: TrainingSet) -> dict[PriorKey, tuple[float, float, int]]:
    """Mean percentile and mean gain of each source over the training queries."""
    acc: dict[PriorKey, list[tuple[float, float]]] = defaultdict(list)
    for q in ts.queries:
        pct = percentiles(q.scores)
        gains = q.gains
        for s, p, g in zip(q.sources, pct, gains, strict=True):
            acc[prior_key(q.target_task, s)].append((p, g))
    out = {}
    for key, values in acc.items():
        arr = np.array(values)
        g = arr[:, 1][np.isfinite(arr[:, 1])]
        out[key] = (float(arr[:, 0].mean()), float(g.mean()) if len(g) else float("nan"), len(values))
    return out


class TransferRanker:
    """Ranks transfer sources for a query and predicts their gain over the English baseline."""

    def __init__(self, *, n_estimators: int = 200, learning_rate: float = 0.05, num_leaves: int = 15,
                 min_child_samples: int = 5, features: Sequence[str] | None = None, use_prior: bool = True,
                 seed: int = 0, n_jobs: int = 1) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.features = features
        self.use_prior = use_prior
        self.seed = seed
        self.n_jobs = n_jobs

    # -- design matrix --------------------------------------------------------------------------
    def _columns(self) -> list[int]:
        names = FEATURE_NAMES if self.features is None else tuple(self.features)
        return [FEATURE_NAMES.index(n) for n in names if n in FEATURE_NAMES]

    def _design(self, X: np.ndarray, target_tasks: Sequence[str], sources: Sequence[Source]) -> np.ndarray:
        """Static features (selected) + prior features: shape (n_rows, len(self.feature_names_))."""
        cols = X[:, self._columns()]
        if not self.use_prior:
            return cols
        prior = np.full((len(sources), len(PRIOR_NAMES)), np.nan)
        for i, (t, s) in enumerate(zip(target_tasks, sources, strict=True)):
            hit = self.prior_.get(prior_key(t, s))
            prior[i] = hit if hit is not None else (np.nan, np.nan, 0.0)
        return np.hstack([cols, prior])

    def _params(self) -> dict[str, object]:
        return dict(n_estimators=self.n_estimators, learning_rate=self.learning_rate,
                    num_leaves=self.num_leaves, min_child_samples=self.min_child_samples,
                    random_state=self.seed, n_jobs=self.n_jobs, deterministic=True,
                    force_row_wise=True, verbose=-1)

    # -- fitting --------------------------------------------------------------------------------
    def fit(self, ts: TrainingSet) -> TransferRanker:
        if not ts.queries:
            raise NoModel("no queries to train on: the run store has no query with two or more sources")
        self.prior_ = fit_prior(ts) if self.use_prior else {}
        names = [FEATURE_NAMES[i] for i in self._columns()] + (list(PRIOR_NAMES) if self.use_prior else [])
        self.feature_names_ = names
        tasks = [ts.queries[q].target_task for q in ts.query_of_row]
        sources = [s for q in ts.queries for s in q.sources]
        X = self._design(ts.X, tasks, sources)
        cat = [i for i, n in enumerate(names) if n in CATEGORICAL]
        ranker = lgb.LGBMRanker(objective="lambdarank", label_gain=list(range(0, 32)), **self._params())
        ranker.fit(X, ts.relevance, group=ts.group, feature_name=names, categorical_feature=cat)
        self.ranker_ = ranker.booster_
        finite = np.isfinite(ts.gains)
        self.gain_: lgb.Booster | None = None
        if finite.sum() >= 10:
            reg = lgb.LGBMRegressor(objective="huber", alpha=5.0, **self._params())
            reg.fit(X[finite], ts.gains[finite], feature_name=names, categorical_feature=cat)
            self.gain_ = reg.booster_
        return self

    def _check(self) -> None:
        if not hasattr(self, "ranker_"):
            raise NoModel("the ranker is not fitted")

    # -- prediction -----------------------------------------------------------------------------
    def design(self, X: np.ndarray, target_task: str, sources: Sequence[Source]) -> np.ndarray:
        """The model's input rows for one query (static features + prior)."""
        self._check()
        return self._design(X, [target_task] * len(sources), sources)

    def score(self, Z: np.ndarray) -> np.ndarray:
        """Ranking scores for design rows (higher is better); only order within a query matters."""
        self._check()
        return np.asarray(self.ranker_.predict(Z, num_threads=1))

    def predict_gain(self, Z: np.ndarray) -> np.ndarray:
        """Predicted gain over the English-source baseline in points (NaN without a gain model)."""
        self._check()
        if self.gain_ is None:
            return np.full(len(Z), np.nan)
        return np.asarray(self.gain_.predict(Z, num_threads=1))

    # -- persistence (LightGBM text models + JSON; never pickle) ----------------------------------
    def save(self, folder: Path) -> list[str]:
        """Write the model files into ``folder``; returns their names."""
        self._check()
        self.ranker_.save_model(str(folder / "ranker.txt"))
        files = ["ranker.txt", "prior.json", "params.json"]
        if self.gain_ is not None:
            self.gain_.save_model(str(folder / "gain.txt"))
            files.append("gain.txt")
        prior = [[*k, *v] for k, v in sorted(self.prior_.items())]
        (folder / "prior.json").write_text(json.dumps(prior, allow_nan=True))
        params = {"init": {k: getattr(self, k) for k in ("n_estimators", "learning_rate", "num_leaves",
                                                          "min_child_samples", "use_prior", "seed")},
                  "features": self.features, "feature_names": self.feature_names_}
        (folder / "params.json").write_text(json.dumps(params, indent=2))
        return files

    @classmethod
    def load(cls, folder: Path) -> TransferRanker:
        params = json.loads((folder / "params.json").read_text())
        model = cls(features=params["features"], **params["init"])
        model.ranker_ = lgb.Booster(model_file=str(folder / "ranker.txt"))
        gain = folder / "gain.txt"
        model.gain_ = lgb.Booster(model_file=str(gain)) if gain.exists() else None
        model.prior_ = {(a, b, c): (p, g, int(n)) for a, b, c, p, g, n in
                        json.loads((folder / "prior.json").read_text())}
        model.feature_names_ = params["feature_names"]
        return model
