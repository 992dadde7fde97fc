"""The transfer ranker: LightGBM lambdarank over sources, plus a gain regressor.

Besides the static features of ``feature_store.features``, the ranker learns a *source prior*
from its training queries: how well each source did, on average, for other targets of the same
task (its mean within-query percentile and mean gain). That is the ``best_on_average`` rule as a
feature, which the trees can overrule with typology where it matters. While training, each row's
prior leaves its own target language out (``loo_prior_rows``), as it will be for a new language.

On top of the trees sits a per-task *blend*: the ranking score is
``w · trees + Σ_j c_j · Z[:, j]`` over a few rule columns (the prior percentile, URIEL
distances). For each target task, out-of-fold scores from ``INNER_FOLDS`` inner folds (grouped by
target language, inside the training queries only) rate every blend in ``CANDIDATES`` by
``top-1 loss + NDCG_WEIGHT × (1 − NDCG@3)``; the candidates are then averaged with weights
``exp(−(J − J_min) / T)``, ``T`` the standard error of the best one's objective, so blends the
inner CV cannot tell apart share the weight (a soft, low-variance choice on few queries). The
blend is linear in columns of ``Z``, so ``ranker_`` (a ``BlendedBooster``) still gives exact
per-feature contributions that sum to the score, as LightGBM's ``pred_contrib`` does.

Estimator contract (scikit-learn style): ``__init__`` stores keyword arguments, ``fit`` returns
self, fitted state ends in ``_``, predicting before fitting raises ``NoModel``.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import lightgbm as lgb
import numpy as np

from feature_store.errors import ModelIncompatible, NoModel
from feature_store.features import CATEGORICAL, FEATURE_NAMES, Source
from feature_store.tasks import FORMATS, LEVELS, canonical_task, registry
from recommender.model.blend import (
    CANDIDATES,
    INNER_FOLDS,
    NDCG_WEIGHT,
    RULE_DISTANCES,
    TASK_CODE,
    BlendedBooster,
    _Padded,
    _query_spread,
)
from recommender.model.dataset import TrainingSet
from recommender.model.prior import PRIOR_NAMES, fit_prior, loo_prior_rows, prior_key
from recommender.model.ranks import language_folds

__all__ = ["Prediction", "TransferRanker", "code_vocabularies"]


_NO_PRIOR = (np.nan, np.nan, 0.0)


class Prediction(NamedTuple):
    """One query's candidates as the model sees them: design rows (n, n_model_features), ranking
    scores (n,; only order within the query matters) and predicted gains in points (n,; NaN
    without a gain model)."""

    design: np.ndarray
    scores: np.ndarray
    gains: np.ndarray  # a source never measured for another target of the task


def code_vocabularies() -> dict[str, list[str]]:
    """The vocabularies of the categorical codes the feature builder writes (formats, levels)."""
    return {"format": list(FORMATS), "level": list(LEVELS)}


def task_vocabulary() -> list[str]:
    """The model's target-task vocabulary: the registry's ids at training time.

    A task outside the registry gets no code (NaN: the trees see every such task alike) and no
    blend (the trees alone), as before the vocabulary moved into the model. Measured under
    leave-one-language-out (``bench/unregistered_tasks.py``), that ranks the larger data better:
    the shipped UD-POS runs renamed out of the registry (105 targets) reach NDCG@3 55.3 with the
    trees alone and 45.5 with a code and blend of their own (the soft average over the blend
    candidates, most of which weight the prior and a distance, is worse than the trees alone even
    in the blend's own inner CV there). On the small renamed XTREME matrices (9-15 targets) a code
    and blend of their own did better (mean NDCG@3 88.9 against 86.0). A registered task keeps
    the blend its ``stepstone evaluate`` figures are measured with.
    """
    return [t.id for t in registry()]


def _blended_tasks(ts: TrainingSet, vocabulary: Sequence[str]) -> dict[str, list[int]]:
    """The training queries of each target task that gets a blend: those of the vocabulary."""
    known = set(vocabulary)
    by_task: dict[str, list[int]] = defaultdict(list)
    for qi, q in enumerate(ts.queries):
        if q.task_id in known:
            by_task[q.task_id].append(qi)
    return dict(by_task)


class TransferRanker:
    """Ranks transfer sources for a query and predicts their gain over the English baseline."""

    def __init__(self, *, n_estimators: int = 60, learning_rate: float = 0.08, num_leaves: int = 15,
                 min_child_samples: int = 5, features: Sequence[str] | None = None, use_prior: bool = True,
                 seed: int = 0, n_jobs: int = 1, blend: bool = True, inner_estimators: int = 30,
                 gain: bool = True) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.features = features
        self.use_prior = use_prior
        self.seed = seed
        self.n_jobs = n_jobs
        self.blend = blend
        self.inner_estimators = inner_estimators
        self.gain = gain

    # -- design matrix --------------------------------------------------------------------------
    def _columns(self) -> list[int]:
        names = FEATURE_NAMES if self.features is None else tuple(self.features)
        return [FEATURE_NAMES.index(n) for n in names if n in FEATURE_NAMES]

    def _design(self, X: np.ndarray, target_tasks: Sequence[str], sources: Sequence[Source]) -> np.ndarray:
        """Static features (selected) + prior features: shape (n_rows, len(self.feature_names_))."""
        cols = X[:, self._columns()]
        names = self.feature_names_
        one_task = len(set(target_tasks)) == 1
        if TASK_CODE in names:
            index = self._task_index
            cols[:, names.index(TASK_CODE)] = index.get(canonical_task(target_tasks[0]), np.nan) if one_task else \
                [index.get(canonical_task(t), np.nan) for t in target_tasks]
        if not self.use_prior:
            return cols
        if one_task:  # one query: its pool's prior rows are reused
            prior = self._prior_rows(target_tasks[0], tuple(sources))
        else:
            prior = np.array([self.prior_.get(prior_key(t, s), _NO_PRIOR) for t, s in
                              zip(target_tasks, sources, strict=True)], dtype=float).reshape(-1, len(PRIOR_NAMES))
        return np.hstack([cols, prior])

    def _prior_rows(self, target_task: str, sources: tuple[Source, ...]) -> np.ndarray:
        """The prior features of one query's candidates, cached (a pool repeats across requests)."""
        cache: dict[tuple[str, tuple[Source, ...]], np.ndarray] = self.__dict__.setdefault("_prior_cache", {})
        key = (target_task, sources)
        rows = cache.get(key)
        if rows is None:
            rows = np.array([self.prior_.get(prior_key(target_task, s), _NO_PRIOR) for s in sources],
                            dtype=float).reshape(-1, len(PRIOR_NAMES))
            if len(cache) >= 512:
                cache.clear()
            cache[key] = rows
        return rows

    def _params(self) -> dict[str, object]:
        return dict(learning_rate=self.learning_rate, num_leaves=self.num_leaves,
                    min_data_in_leaf=self.min_child_samples, seed=self.seed, num_threads=self.n_jobs,
                    deterministic=True, force_row_wise=True, verbose=-1, max_bin=63)

    def _train_rows(self, ts: TrainingSet) -> np.ndarray:
        tasks = [ts.queries[q].target_task for q in ts.query_of_row]
        sources = [s for q in ts.queries for s in q.sources]
        Z = self._design(ts.X, tasks, sources)
        if self.use_prior:
            Z[:, -len(PRIOR_NAMES):] = loo_prior_rows(ts)
        return Z

    def _dataset(self, Z: np.ndarray, label: np.ndarray, group: np.ndarray | None = None,
                 reference: lgb.Dataset | None = None) -> lgb.Dataset:
        names = self.feature_names_
        cat = [i for i, n in enumerate(names) if n in CATEGORICAL]
        # A reference reuses its bin boundaries: the inner folds skip LightGBM's binning pass.
        return lgb.Dataset(Z, label, group=group, feature_name=names, categorical_feature=cat,
                           reference=reference, params={"max_bin": 63, "verbose": -1}, free_raw_data=False)

    def _fit_booster(self, Z: np.ndarray, ts: TrainingSet, n_estimators: int,
                     reference: lgb.Dataset | None = None) -> tuple[lgb.Booster, lgb.Dataset]:
        params = {**self._params(), "objective": "lambdarank", "label_gain": list(range(0, 32)),
                  "lambdarank_truncation_level": 20}
        data = self._dataset(Z, ts.relevance, ts.group, reference)
        return lgb.train(params, data, num_boost_round=n_estimators), data

    # -- fitting --------------------------------------------------------------------------------
    def fit(self, ts: TrainingSet) -> TransferRanker:
        if not ts.queries:
            raise NoModel("no queries to train on: the run store has no query with two or more sources")
        self.prior_ = fit_prior(ts) if self.use_prior else {}
        self.feature_names_ = self.expected_feature_names()
        self.vocabularies_ = {"target_task": task_vocabulary(), **code_vocabularies()}
        Z = self._train_rows(ts)
        booster, data = self._fit_booster(Z, ts, self.n_estimators)
        blend = self._fit_blend(ts, booster, Z, data) if self.blend else {}
        self.ranker_ = BlendedBooster(booster, blend, self.feature_names_, self.vocabularies_["target_task"])
        finite = np.isfinite(ts.gains)
        self.gain_: lgb.Booster | None = None
        if self.gain and finite.sum() >= 10:
            params = {**self._params(), "objective": "huber", "alpha": 5.0}
            gdata = self._dataset(Z[finite], ts.gains[finite], reference=data)
            self.gain_ = lgb.train(params, gdata, num_boost_round=self.n_estimators)
        return self

    def expected_feature_names(self) -> list[str]:
        """The model's input columns under this code's features and these parameters."""
        return [FEATURE_NAMES[i] for i in self._columns()] + (list(PRIOR_NAMES) if self.use_prior else [])

    @property
    def _task_index(self) -> dict[str, int]:
        index = self.__dict__.get("_task_index_cache")
        if index is None:
            index = {t: i for i, t in enumerate(self.vocabularies_["target_task"])}
            self.__dict__["_task_index_cache"] = index
        return index

    # -- the blend, tuned by inner cross-validation ----------------------------------------------
    def _rule_columns(self) -> dict[str, int]:
        names = self.feature_names_
        cols = {d: names.index(f"dist_{d}") for d in RULE_DISTANCES if f"dist_{d}" in names}
        if "prior_percentile" in names:
            cols["prior"] = names.index("prior_percentile")
        return cols

    def _fit_blend(self, ts: TrainingSet, booster: lgb.Booster, Z: np.ndarray,
                   reference: lgb.Dataset) -> dict[str, Any]:
        """Pick per target task the candidate blend with the best inner-CV objective."""
        names = self.feature_names_
        rules = self._rule_columns()
        if TASK_CODE not in names or "prior" not in rules or len(ts.queries) < 2 * INNER_FOLDS:
            return {}
        by_task = _blended_tasks(ts, self.vocabularies_["target_task"])
        if not by_task:
            return {}
        # Out-of-fold tree scores for every training query.
        oof_model = np.full(len(Z), np.nan)
        fold_of = language_folds([q.target_language for q in ts.queries], INNER_FOLDS)
        qfold = np.array([fold_of[q.target_language] for q in ts.queries])
        for f in range(INNER_FOLDS):
            train_ids = np.flatnonzero(qfold != f).tolist()
            test_ids = np.flatnonzero(qfold == f).tolist()
            if not train_ids or not test_ids:
                continue
            inner_params: dict[str, Any] = {**self.get_params(), "blend": False,
                                            "n_estimators": self.inner_estimators}
            inner = TransferRanker(**inner_params)
            sub = ts.subset(train_ids)
            inner.prior_ = fit_prior(sub)
            inner.feature_names_ = names
            inner.vocabularies_ = self.vocabularies_
            b, _ = inner._fit_booster(inner._train_rows(sub), sub, self.inner_estimators, reference)
            rows = np.flatnonzero(np.isin(ts.query_of_row, test_ids))
            tasks = [ts.queries[q].target_task for q in ts.query_of_row[rows]]
            srcs = [ts.queries[q].sources[i] for q in test_ids for i in range(len(ts.queries[q].sources))]
            Zt = inner._design(ts.X[rows], tasks, srcs)
            oof_model[rows] = b.predict(Zt, num_threads=1)
        fill = {names[rules["prior"]]: 0.0, **{names[rules[d]]: 1.0 for d in RULE_DISTANCES if d in rules}}
        spread_model_final = _query_spread(np.asarray(booster.predict(Z, num_threads=1)), ts.group)
        tasks_out: dict[str, Any] = {}
        for task_id, qids in sorted(by_task.items()):
            rows = np.flatnonzero(np.isin(ts.query_of_row, qids))
            group = np.array([len(ts.queries[q].sources) for q in qids])
            # The prior column of Z already leaves each query's own target language out (loo_prior_rows).
            experts = {"model": oof_model[rows], "prior": np.nan_to_num(Z[rows, rules["prior"]], nan=0.0)}
            for d in RULE_DISTANCES:
                if d in rules:
                    experts[d] = -np.nan_to_num(ts.X[rows, FEATURE_NAMES.index(f"dist_{d}")], nan=1.0)
            spread = {k: _query_spread(v, group) for k, v in experts.items()}
            pad = _Padded([ts.queries[q].scores for q in qids])
            objective: dict[int, float] = {}
            per_query: dict[int, np.ndarray] = {}
            for ci, (wm, wp, dist, wd) in enumerate(CANDIDATES):
                if dist is not None and dist not in experts:
                    continue
                combo = wm * experts["model"] / spread["model"] + wp * experts["prior"] / spread["prior"]
                if dist is not None:
                    combo = combo + wd * experts[dist] / spread[dist]
                loss, ndcg = pad.evaluate(combo)
                per_query[ci] = loss + NDCG_WEIGHT * (1 - ndcg)
                objective[ci] = float(per_query[ci].mean())
            # The temperature is the standard error of the best candidate's objective: candidates
            # that inner CV cannot tell apart from the best share the weight.
            top = per_query[min(objective, key=objective.__getitem__)]
            temperature = max(float(top.std(ddof=1) / math.sqrt(len(top))) if len(top) > 1 else 1.0, 0.05)
            tasks_out[task_id] = self._soft_entry(objective, spread, spread_model_final, rules,
                                                         temperature)
        # A task without an entry gets the trees alone: one without training queries (a new task;
        # the held-out task under loto) or one outside the registry (``task_vocabulary``).
        return {"tasks": tasks_out, "fill": fill}

    def _blend_entry(self, candidate: tuple[float, float, str | None, float], spread: dict[str, float],
                     spread_model: float, rules: dict[str, int]) -> list[Any]:
        wm, wp, d, wd = candidate
        names = self.feature_names_
        coef: dict[str, float] = {}
        if wp:
            coef[names[rules["prior"]]] = wp / spread.get("prior", 0.2)
        if d is not None and wd:
            coef[names[rules[d]]] = -wd / spread.get(d, 0.1)
        return [wm / spread_model, coef, {"candidate": [wm, wp, d, wd]}]

    def _soft_entry(self, objective: dict[int, float], spread: dict[str, float], spread_model: float,
                    rules: dict[str, int], temperature: float) -> list[Any]:
        """Average the candidates with weights exp(−(J − J_min) / T): a soft, lower-variance selection."""
        best = min(objective.values())
        weights = {ci: math.exp(-(j - best) / temperature) for ci, j in objective.items()}
        total = sum(weights.values())
        w_model = 0.0
        coef: defaultdict[str, float] = defaultdict(float)
        for ci, w in weights.items():
            entry = self._blend_entry(CANDIDATES[ci], spread, spread_model, rules)
            w_model += w / total * float(entry[0])
            for col, c in dict(entry[1]).items():
                coef[col] += w / total * c
        top = sorted(weights, key=lambda c: -weights[c])[:3]
        return [w_model, dict(coef), {"temperature": round(temperature, 4),
                                      "top": [[*CANDIDATES[c], round(weights[c] / total, 3)] for c in top]}]

    def get_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("n_estimators", "learning_rate", "num_leaves", "min_child_samples",
                                              "features", "use_prior", "seed", "n_jobs", "blend",
                                              "inner_estimators", "gain")}

    def _check(self) -> None:
        if not hasattr(self, "ranker_"):
            raise NoModel("the ranker is not fitted")

    # -- prediction -----------------------------------------------------------------------------
    def predict(self, X: np.ndarray, target_task: str, sources: Sequence[Source]) -> Prediction:
        """Score one query's candidates in one call: ``X`` (n_sources, n_features) from
        ``FeatureBuilder.build``; the ranker builds its own design rows (static features + the
        source prior) and returns them with the ranking scores and the predicted gains."""
        Z = self.design(X, target_task, sources)
        return Prediction(Z, self.score(Z), self.predict_gain(Z))

    def design(self, X: np.ndarray, target_task: str, sources: Sequence[Source]) -> np.ndarray:
        """The model's input rows for one target task (static features + prior)."""
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
        files = ["ranker.txt", "prior.json", "params.json", "blend.json"]
        if self.gain_ is not None:
            self.gain_.save_model(str(folder / "gain.txt"))
            files.append("gain.txt")
        prior = [[*k, *v] for k, v in sorted(self.prior_.items())]
        (folder / "prior.json").write_text(json.dumps(prior, allow_nan=True))
        (folder / "blend.json").write_text(json.dumps(self.ranker_.blend, indent=1))
        init = {k: v for k, v in self.get_params().items() if k not in ("features", "n_jobs")}
        params = {"init": init, "features": self.features, "feature_names": self.feature_names_,
                  "vocabularies": self.vocabularies_}
        (folder / "params.json").write_text(json.dumps(params, indent=2))
        return files

    @classmethod
    def load(cls, folder: Path) -> TransferRanker:
        """Load a saved model; ``ModelIncompatible`` when it was built on other features or codes."""
        params = json.loads((folder / "params.json").read_text())
        model = cls(features=params["features"], **params["init"])
        names, vocab = params.get("feature_names"), params.get("vocabularies")
        if names != model.expected_feature_names() or not isinstance(vocab, dict) \
                or {k: vocab.get(k) for k in code_vocabularies()} != code_vocabularies() \
                or not isinstance(vocab.get("target_task"), list):
            raise ModelIncompatible(
                f"model in {folder.name} was trained on other features or category codes than this "
                "version of stepstone builds; run `stepstone retrain`")
        model.feature_names_ = names
        model.vocabularies_ = vocab
        blend_path = folder / "blend.json"
        blend = json.loads(blend_path.read_text()) if blend_path.exists() else {}
        model.ranker_ = BlendedBooster(lgb.Booster(model_file=str(folder / "ranker.txt")), blend, names,
                                       vocab["target_task"])
        gain = folder / "gain.txt"
        model.gain_ = lgb.Booster(model_file=str(gain)) if gain.exists() else None
        model.prior_ = {(a, b, c): (p, g, int(n)) for a, b, c, p, g, n in
                        json.loads((folder / "prior.json").read_text())}
        return model
