"""Metrics and baselines on tiny queries whose values were computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import ndcg_score

from feature_store.features import FEATURE_NAMES, Source
from recommender.evaluation import baselines as bl
from recommender.evaluation.metrics import (
    expected_topk_max,
    mean_metrics,
    ndcg_at_3,
    query_metrics,
    regret_at,
    spearman,
    top1_loss_pct,
)
from recommender.model.dataset import Query, relevance

# Four sources A, B, C, D scored 50, 40, 30, 20; the ranking puts C first, then A, B, D.
SCORES = np.array([50.0, 40.0, 30.0, 20.0])
PRED = np.array([3.0, 2.0, 4.0, 1.0])


def test_ndcg_at_3_by_hand() -> None:
    # LangRank relevance (11 - rank): A 10, B 9, C 8, D 7. Ranked C, A, B:
    # DCG@3 = 8/log2(2) + 10/log2(3) + 9/log2(4); the ideal A, B, C: 10 + 9/log2(3) + 8/2.
    dcg = 8 + 10 / math.log2(3) + 9 / 2
    ideal = 10 + 9 / math.log2(3) + 8 / 2
    assert list(relevance(SCORES)) == [10, 9, 8, 7]
    assert ndcg_at_3(SCORES, PRED) == pytest.approx(dcg / ideal)  # 0.95583
    assert ndcg_at_3(SCORES, PRED) == pytest.approx(0.955836, abs=1e-6)
    assert ndcg_at_3(SCORES, SCORES) == pytest.approx(1.0)


def test_ndcg_matches_scikit_learn_with_ties_and_past_the_top_10() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(2, 30))
        scores = rng.normal(size=n)
        pred = rng.integers(0, 3, size=n).astype(float) if rng.random() < 0.5 else rng.normal(size=n)
        expected = ndcg_score(relevance(scores)[None, :], pred[None, :], k=3)
        assert ndcg_at_3(scores, pred) == pytest.approx(expected, abs=1e-12)


def test_top1_loss_and_regret_by_hand() -> None:
    assert top1_loss_pct(SCORES, PRED) == pytest.approx(40.0)  # 100 × (50 − 30) / 50
    assert regret_at(SCORES, PRED, 1) == pytest.approx(20.0)  # 50 − 30
    assert regret_at(SCORES, PRED, 3) == pytest.approx(0.0)  # A is in the top 3
    assert top1_loss_pct(np.zeros(3), np.array([1.0, 2.0, 3.0])) == 0.0  # nothing to lose


def test_spearman_and_gain_mae_by_hand() -> None:
    # ranks of the scores 4,3,2,1 and of the ranking 3,2,4,1: d = 1,1,-2,0; rho = 1 − 6·6/(4·15) = 0.4
    assert spearman(SCORES, PRED) == pytest.approx(0.4)
    m = query_metrics(SCORES, PRED, gains=np.array([5.0, -5.0, 0.0, 1.0]),
                      pred_gains=np.array([4.0, -5.0, 2.0, 1.0]))
    assert m["gain_mae"] == pytest.approx(0.75)  # (1 + 0 + 2 + 0) / 4
    assert m["top1_loss_pct"] == pytest.approx(40.0)
    assert math.isnan(spearman(np.ones(3), np.arange(3.0)))


def test_ties_are_broken_in_expectation() -> None:
    flat = np.zeros(4)
    # a random pick scores 35 on average: loss 30 %; the best of a random 3 is 50 with p 3/4, else 40
    assert top1_loss_pct(SCORES, flat) == pytest.approx(30.0)
    assert regret_at(SCORES, flat, 3) == pytest.approx(50 - (0.75 * 50 + 0.25 * 40))
    assert spearman(SCORES, flat) == 0.0
    # A and C tied on top: the top 1 is 50 or 30 (mean 40); the top 2 holds both, so 50
    tied = np.array([2.0, 1.0, 2.0, 0.0])
    assert expected_topk_max(SCORES, tied, 1) == pytest.approx(40.0)
    assert expected_topk_max(SCORES, tied, 2) == pytest.approx(50.0)


def test_mean_metrics_skip_nan() -> None:
    rows = [{"a": 1.0}, {"a": float("nan")}, {"a": 3.0}]
    assert mean_metrics(rows, ["a"]) == {"a": 2.0}
    assert mean_metrics([{"a": float("nan")}], ["a"]) == {"a": None}


def _query(lang: str, sources: list[Source], scores: list[float]) -> Query:
    return Query("d", "m", "xnli", lang, sources, np.array(scores), baseline=None)


def test_baselines_on_a_tiny_query() -> None:
    a, b, c, eng = (Source("xnli", x) for x in ("deu", "fra", "hin", "eng"))
    train = [_query("spa", [a, b, eng], [60.0, 70.0, 65.0]), _query("ita", [a, b, eng], [50.0, 58.0, 40.0])]
    test = _query("rus", [a, b, c, eng], [55.0, 50.0, 45.0, 52.0])
    boa = bl.BestOnAverage().fit(train)
    pred = boa.predict(test)
    # means: fra 64, eng 52.5, deu 55; hin was never seen: below all of them
    assert pred[1] > pred[0] > pred[3] > pred[2]
    assert top1_loss_pct(test.scores, pred) == pytest.approx(100 * (55 - 50) / 55)
    assert list(bl.english(test)) == [0.0, 0.0, 0.0, 1.0]
    assert top1_loss_pct(test.scores, bl.english(test)) == pytest.approx(100 * 3 / 55)
    X = np.full((4, len(FEATURE_NAMES)), np.nan)
    X[:, FEATURE_NAMES.index("dist_syntactic")] = [0.4, 0.2, np.nan, 0.5]
    near = bl.nearest(X, "syntactic")
    assert np.argmax(near) == 1 and near[2] == -np.inf  # fra is closest; unknown distance last
    preds = bl.predictions(test, X, boa)
    assert set(preds) == set(bl.BASELINES)
    assert top1_loss_pct(test.scores, preds["oracle"]) == 0.0
    assert top1_loss_pct(test.scores, preds["random"]) == pytest.approx(100 * (55 - 50.5) / 55)
