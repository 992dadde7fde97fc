"""Does planning beat guessing? A simulation on measured matrices (``python bench/plan.py``).

For each target language of a setting its runs are hidden, the model is fitted on the other
languages' runs (leave-one-language-out, every setting at once, as ``stepstone evaluate``), and the
hidden cells are revealed one at a time in three orders:

* ``planner`` — the planner's: the cell of highest expected improvement (``belief``), the belief
  conditioned on every cell revealed so far (one fit per language, a Gaussian update per reveal);
* ``random`` — the mean over all orders (the exact expectation, ``metrics.expected_topk_max``);
* ``best_on_average`` — the sources by their mean score for the other languages (``baselines``).

After ``n`` reveals the user takes the best revealed cell; its top-1 loss is
``100 × (oracle − best revealed) / oracle``, averaged over the setting's languages. At ``n = 0``
nothing is measured and the user takes the order's first cell unmeasured (the same as ``n = 1``).
Intervals of a held-out language are calibrated on the other languages' out-of-fold residuals
(CV+, ``calibration.calibrate_residuals``), so nothing of the hidden language is used.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from feature_store.lang_features import get_language_features
from feature_store.runs.run import Run
from recommender.evaluation.baselines import BestOnAverage
from recommender.evaluation.crossval import folds
from recommender.evaluation.metrics import expected_topk_max
from recommender.model.calibration import Calibration, calibrate_residuals
from recommender.model.dataset import Query, TrainingSet, assemble, group_queries
from recommender.model.ranker import TransferRanker
from recommender.planning.cells import UNKNOWN_LEVEL_VARIANCE, model_belief

ORDERS = ("planner", "random", "best_on_average")
N_MAX = 10


def _fold_predictions(ts: TrainingSet, fold_list: list[tuple[list[int], list[int]]],
                      params: dict[str, Any]) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    out = []
    for train_ids, test_ids in fold_list:
        train = ts.subset(train_ids)
        model = TransferRanker(**params).fit(train)
        boa = BestOnAverage().fit(train.queries)
        for qi in test_ids:
            q = ts.queries[qi]
            _, scores, gains = model.predict(ts.X[ts.rows(qi)], q.target_task, q.sources)
            out.append((qi, scores, gains, boa.predict(q)))
    return out


def held_out_predictions(ts: TrainingSet, params: dict[str, Any] | None = None,
                         n_jobs: int = 2) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per query: ranker scores, predicted gains and best_on_average scores from a model without its language."""
    params = {"n_jobs": 1, **(params or {})}
    fold_list = folds(ts.queries, "lolo")
    chunks = [c for c in (fold_list[i::n_jobs] for i in range(max(n_jobs, 1))) if c]
    if len(chunks) > 1:
        from joblib import Parallel, delayed

        parts = Parallel(n_jobs=len(chunks))(delayed(_fold_predictions)(ts, c, params) for c in chunks)
    else:
        parts = [_fold_predictions(ts, c, params) for c in chunks]
    return {qi: (s, g, b) for part in parts for qi, s, g, b in part}


def _calibrations(queries: Sequence[Query], preds: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]],
                  ) -> dict[str, Calibration]:
    """Per target language: intervals calibrated on every other language's out-of-fold residuals."""
    langs, tasks, resid = [], [], []
    for qi, q in enumerate(queries):
        gains = preds[qi][1]
        langs += [q.target_language] * len(q.sources)
        tasks += [q.task_id] * len(q.sources)
        resid.append(q.gains - gains)
    lang_arr, r = np.array(langs), np.concatenate(resid) if resid else np.zeros(0)
    return {lang: calibrate_residuals(np.where(lang_arr == lang, np.nan, r), tasks)
            for lang in sorted(set(langs))}


def loss(scores: np.ndarray, best: float) -> float:
    oracle = float(np.max(scores))
    return 0.0 if oracle <= 0 else 100.0 * (oracle - best) / oracle


def planner_order(q: Query, scores: np.ndarray, gains: np.ndarray, cal: Calibration, n_max: int) -> list[int]:
    """The cells in the order the planner reveals them, each pick conditioned on those before."""
    low, high = cal.intervals(gains, q.task_id)
    belief = model_belief(scores, gains, low, high, cal.level, q.sources, get_language_features(),
                          offset_variance=UNKNOWN_LEVEL_VARIANCE)
    order: list[int] = []
    for _ in range(min(n_max, len(q.sources))):
        ei = belief.expected_improvement()
        ei[belief.measured] = -np.inf
        i = int(np.argmax(ei))
        order.append(i)
        belief.observe(i, float(q.scores[i]))
    return order


def query_curves(q: Query, scores: np.ndarray, gains: np.ndarray, boa: np.ndarray, cal: Calibration,
                 n_max: int = N_MAX) -> dict[str, list[float]]:
    """Top-1 loss after n = 0..n_max reveals, per order, for one held-out query."""
    y = np.asarray(q.scores, dtype=float)
    order = planner_order(q, scores, gains, cal, n_max)
    planner = [loss(y, float(y[order[: max(n, 1)]].max())) for n in range(n_max + 1)]
    random = [loss(y, expected_topk_max(y, np.zeros(len(y)), max(n, 1))) for n in range(n_max + 1)]
    boa_curve = [loss(y, expected_topk_max(y, boa, max(n, 1))) for n in range(n_max + 1)]
    return {"planner": planner, "random": random, "best_on_average": boa_curve}


def simulate_queries(queries: list[Query], *, n_max: int = N_MAX, params: dict[str, Any] | None = None,
                     n_jobs: int = 2) -> dict[str, Any]:
    """``{"settings": [{"name", "queries", "n", "planner", "random", "best_on_average"}], "seconds"}``."""
    t0 = time.perf_counter()
    ts = assemble(queries)
    preds = held_out_predictions(ts, params, n_jobs)
    cals = _calibrations(ts.queries, preds)
    by_setting: dict[tuple[str, str, str], list[dict[str, list[float]]]] = defaultdict(list)
    for qi, q in enumerate(ts.queries):
        s, g, b = preds[qi]
        by_setting[q.setting].append(query_curves(q, s, g, b, cals[q.target_language], n_max))
    settings = []
    for (dataset, model, task), curves in sorted(by_setting.items()):
        entry: dict[str, Any] = {"name": f"{task} ({dataset}, {model})", "dataset": dataset, "model": model,
                                 "target_task": task, "queries": len(curves), "n": list(range(n_max + 1))}
        for name in ORDERS:
            entry[name] = [round(float(v), 4) for v in np.mean([c[name] for c in curves], axis=0)]
        settings.append(entry)
    return {"settings": settings, "seconds": round(time.perf_counter() - t0, 2)}


def simulate_runs(runs: Sequence[Run], **options: Any) -> dict[str, Any]:
    """``simulate_queries`` on runs (in-language sources left out, as in ``stepstone evaluate``)."""
    return simulate_queries(group_queries(runs, exclude_self=True), **options)


def misses(result: dict[str, Any], n_range: range = range(1, 6)) -> list[str]:
    """Where the planner's loss is above random's or best_on_average's (the bar of docs/plan.md)."""
    out = []
    for s in result["settings"]:
        for n in n_range:
            if n >= len(s["n"]):
                break
            for other in ("random", "best_on_average"):
                if s["planner"][n] > s[other][n] + 1e-9:
                    out.append(f"{s['name']}: n={n} planner {s['planner'][n]:.3f} > {other} {s[other][n]:.3f}")
    return out


__all__ = ["simulate_queries", "simulate_runs", "query_curves", "planner_order", "held_out_predictions", "misses",
           "plot_curves", "ORDERS", "N_MAX"]


def plot_curves(result: dict[str, Any], path: Any) -> Any:
    """Top-1 loss against cells revealed, one panel per setting (own scale): planner, random, best_on_average."""
    from matplotlib.figure import Figure

    settings = result["settings"]
    fig = Figure(figsize=(3.2 * len(settings) + 0.6, 3.6), dpi=120)
    axes = fig.subplots(1, max(len(settings), 1), squeeze=False)
    style = {"planner": ("#1f77b4", "o"), "best_on_average": ("#ff7f0e", "s"), "random": ("#9a9a9a", "^")}
    for ax, s in zip(axes[0], settings, strict=False):
        for name in ("random", "best_on_average", "planner"):  # the planner drawn last, on top
            color, marker = style[name]
            ax.plot(s["n"], s[name], color=color, marker=marker, markersize=3, linewidth=1.4,
                    label=name.replace("_", " "))
        ax.set_title(f"{s['target_task']} ({s['queries']} languages)", fontsize=9)
        ax.set_xlabel("cells measured", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_ylim(bottom=0)
    axes[0][0].set_ylabel("top-1 loss (%) of the best measured cell", fontsize=8)
    axes[0][0].legend(fontsize=7, frameon=False)
    fig.suptitle("Which cell to measure next: planner vs random vs best-on-average order", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    return path
