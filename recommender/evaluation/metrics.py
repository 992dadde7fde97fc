"""Ranking metrics of one query, and their mean over queries.

Every metric takes the measured ``scores`` of a query's sources and a ranking's ``pred`` (higher
is better; only the order matters). Ties in ``pred`` are broken at random and the metric is its
expected value over those tie-breaks, so a constant ``pred`` scores exactly what a random ranking
scores on average (that is how the ``random`` baseline is computed).

- ``ndcg@3`` is LangRank's: relevance 11 − rank for the query's top-10 sources, 0 below
  (``dataset.relevance``), scored with scikit-learn's ``ndcg_score(..., k=3)`` (which averages
  over tied predictions, the same expectation).
- ``top1_loss_pct`` = 100 × (oracle − score of the top-ranked source) / oracle; 0 when the
  oracle is not positive (every source scored 0: nothing to lose).
- ``regret@k`` = oracle − best score among the top k, in the query's points.
- ``spearman``: rank correlation of ``pred`` and ``scores``; 0 for a constant ``pred`` (its
  expectation), NaN when the scores are all equal (left out of the mean).
- ``gain_mae``: mean absolute error of predicted gains, over sources with a known gain.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from recommender.model.dataset import TrainingSet, relevance
from recommender.model.ranks import rankdata

METRICS: tuple[str, ...] = ("ndcg@3", "top1_loss_pct", "regret@1", "regret@3", "spearman", "gain_mae")


def expected_topk_max(scores: np.ndarray, pred: np.ndarray, k: int) -> float:
    """Expected best measured score among the ``k`` top-ranked sources (random tie-breaks)."""
    scores = np.asarray(scores, dtype=float)
    pred = np.asarray(pred, dtype=float)
    n = len(scores)
    k = min(k, n)
    pred = np.where(np.isnan(pred), -np.inf, pred)
    levels = np.unique(pred)[::-1]  # distinct predictions, best first
    taken = 0
    best_sure = -np.inf
    for level in levels:
        group = np.sort(scores[pred == level])[::-1]
        g = len(group)
        if taken + g <= k:  # the whole tie group is inside the top k
            best_sure = max(best_sure, float(group[0]))
            taken += g
            if taken == k:
                return best_sure
            continue
        m = k - taken  # a random m-subset of the group fills the remaining places
        # P(the subset's best is the i-th best of the group) = C(g-1-i, m-1) / C(g, m)
        total = math.comb(g, m)
        expected = 0.0
        for i in range(g - m + 1):
            p = math.comb(g - 1 - i, m - 1) / total
            expected += p * max(best_sure, float(group[i]))
        return expected
    return best_sure


def _dcg(rel: np.ndarray, pred: np.ndarray, k: int) -> float:
    """DCG@k with gains averaged over tied predictions (scikit-learn's ``_tie_averaged_dcg``)."""
    discount = 1.0 / np.log2(np.arange(len(rel)) + 2.0)
    discount[k:] = 0.0
    _, inverse, counts = np.unique(-pred, return_inverse=True, return_counts=True)
    ranked = np.zeros(len(counts))
    np.add.at(ranked, inverse, rel)
    ranked /= counts
    ends = np.cumsum(discount)[np.cumsum(counts) - 1]
    sums = np.diff(ends, prepend=0.0)
    return float((ranked * sums).sum())


def ndcg_at_3(scores: np.ndarray, pred: np.ndarray) -> float:
    """LangRank's NDCG@3 (relevance 11 − rank for the top-10 sources, 0 below).

    Equal to ``sklearn.metrics.ndcg_score([rel], [pred], k=3)`` (tests check it) but ~100× faster,
    which matters inside the ranker's inner cross-validation.
    """
    rel = relevance(np.asarray(scores, dtype=float)).astype(float)
    if len(rel) < 2 or not rel.any():
        return float("nan")
    pred = np.nan_to_num(np.asarray(pred, dtype=float), nan=-1e300, neginf=-1e300, posinf=1e300)
    ideal = _dcg(rel, rel, 3)
    return _dcg(rel, pred, 3) / ideal if ideal > 0 else 0.0


def top1_loss_pct(scores: np.ndarray, pred: np.ndarray) -> float:
    oracle = float(np.max(scores))
    if oracle <= 0:
        return 0.0
    return 100.0 * (oracle - expected_topk_max(scores, pred, 1)) / oracle


def regret_at(scores: np.ndarray, pred: np.ndarray, k: int) -> float:
    return float(np.max(scores)) - expected_topk_max(scores, pred, k)


def spearman(scores: np.ndarray, pred: np.ndarray) -> float:
    scores = np.asarray(scores, dtype=float)
    pred = np.nan_to_num(np.asarray(pred, dtype=float), nan=-1e300, neginf=-1e300)
    if len(scores) < 2 or np.all(scores == scores[0]):
        return float("nan")
    if np.all(pred == pred[0]):
        return 0.0
    a, b = rankdata(scores), rankdata(pred)
    return float(np.corrcoef(a, b)[0, 1])


def gain_mae(gains: np.ndarray | None, pred_gains: np.ndarray | None) -> float:
    if gains is None or pred_gains is None:
        return float("nan")
    gains, pred_gains = np.asarray(gains, dtype=float), np.asarray(pred_gains, dtype=float)
    ok = np.isfinite(gains) & np.isfinite(pred_gains)
    return float(np.mean(np.abs(gains[ok] - pred_gains[ok]))) if ok.any() else float("nan")


def query_metrics(scores: np.ndarray, pred: np.ndarray, gains: np.ndarray | None = None,
                  pred_gains: np.ndarray | None = None) -> dict[str, float]:
    """Every metric of one query (``scores``, ``pred``, gains: shape (n_sources,))."""
    return {
        "ndcg@3": ndcg_at_3(scores, pred),
        "top1_loss_pct": top1_loss_pct(scores, pred),
        "regret@1": regret_at(scores, pred, 1),
        "regret@3": regret_at(scores, pred, 3),
        "spearman": spearman(scores, pred),
        "gain_mae": gain_mae(gains, pred_gains),
    }


def mean_metrics(per_query: Iterable[Mapping[str, float]], names: Sequence[str] = METRICS,
                 digits: int = 4) -> dict[str, float | None]:
    """Mean of each metric over queries, NaNs left out; None where no query has a value."""
    rows = list(per_query)
    out: dict[str, float | None] = {}
    for name in names:
        values = np.array([r[name] for r in rows], dtype=float)
        values = values[np.isfinite(values)]
        out[name] = round(float(values.mean()), digits) if len(values) else None
    return out


def in_sample_summary(model: Any, ts: TrainingSet) -> dict[str, Any]:
    """A cheap summary over the training queries: in-sample, so optimistic; not a held-out estimate.

    ``model`` is a fitted ``TransferRanker``; the metrics are this module's, averaged over queries.
    ``stepstone evaluate`` gives the cross-validated figures.
    """
    per_query = []
    for qi, q in enumerate(ts.queries):
        _, scores, gains = model.predict(ts.X[ts.rows(qi)], q.target_task, q.sources)
        per_query.append(query_metrics(q.scores, scores, q.gains, gains))
    return {"kind": "in-sample", "queries": len(ts.queries), "rows": int(len(ts.X)),
            "metrics": mean_metrics(per_query)}
