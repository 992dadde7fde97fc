"""Tests for recommender.model.calibration: conformal gain intervals, persistence, advice."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from feature_store.errors import InvalidRequest
from feature_store.features import Source
from feature_store.runs.run import Run
from recommender.answers.advice import advise
from recommender.answers.entry import Entry
from recommender.model.calibration import (
    POOLED,
    Calibration,
    calibrate,
    calibrate_residuals,
    empirical_coverage,
)
from recommender.model.dataset import TrainingSet, assemble, group_queries
from recommender.model.ranks import language_folds

LANGS = ("deu", "nld", "swe", "fra", "spa", "ita", "rus", "pol", "fin", "hun")


def tiny_runs(offset: float = 0.0) -> list[Run]:
    """POS-like runs: every language is a source for every other; gains shrink with distance."""
    rng = np.random.default_rng(0)
    runs = []
    for i, tgt in enumerate(LANGS):
        base = 80.0 + i
        runs.append(Run("udpos", tgt, "udpos", "eng", base, dataset="tiny", model="m", metric="accuracy",
                        baseline_score=base))
        for j, src in enumerate(LANGS):
            if src != tgt:
                gain = offset + 3.0 - abs(i - j) + float(rng.normal(0, 0.5))
                runs.append(Run("udpos", tgt, "udpos", src, base + gain, dataset="tiny", model="m",
                                metric="accuracy", source_size=1000.0 * (j + 1), baseline_score=base))
    return runs


@pytest.fixture
def tiny_ts(home: Path) -> TrainingSet:
    return assemble(group_queries(tiny_runs()))


def test_calibrate_residuals_covers_fresh_draws_at_nominal_level() -> None:
    rng = np.random.default_rng(1)
    cal = calibrate_residuals(rng.normal(0, 2, 2000), ["udpos"] * 2000, level=0.8)
    fresh = rng.normal(0, 2, 20000)
    cov = empirical_coverage(cal, ["udpos"] * len(fresh), np.zeros(len(fresh)), fresh)
    assert abs(cov["udpos"] - 0.8) < 0.02
    assert cov[POOLED] == cov["udpos"]
    lo, hi = cal.quantiles["udpos"]
    assert lo == pytest.approx(-2.56, abs=0.2) and hi == pytest.approx(2.56, abs=0.2)


def test_intervals_are_the_quantiles_as_they_are_not_widened_to_contain_zero() -> None:
    # residuals all positive (the model under-predicts): the interval lies above the prediction
    cal = calibrate_residuals(np.linspace(1, 5, 100), ["xnli"] * 100, level=0.8)
    lo, hi = cal.interval(-3.0, "xnli")
    assert -3.0 < lo < hi < 3.0  # neither the prediction nor zero gain is forced in
    lo_arr, hi_arr = cal.intervals(np.array([-1.0, 1.0]), "xnli")
    assert np.all(lo_arr > [-1.0, 1.0])
    assert all(math.isnan(x) for x in cal.interval(float("nan"), "xnli"))


def test_intermediate_rows_get_their_own_key_when_there_are_enough() -> None:
    residuals = np.concatenate([np.linspace(-1, 1, 40), np.linspace(-9, 9, 40)])
    keys = ["pawsx"] * 40 + ["pawsx/intermediate"] * 40
    cal = calibrate_residuals(residuals, keys, min_count=30)
    assert {"pawsx", "pawsx/intermediate"} <= set(cal.quantiles)
    assert cal.width("pawsx/intermediate") > cal.width("pawsx")
    assert cal.width("xnli/intermediate") == cal.width(POOLED)  # neither key: the pool


def test_per_task_quantiles_and_pooled_fallback() -> None:
    residuals = np.concatenate([np.linspace(-1, 1, 50), np.linspace(-10, 10, 50), np.linspace(-100, 100, 20)])
    tasks = ["xnli"] * 50 + ["udpos_v2.8"] * 50 + ["tydiqa"] * 20
    cal = calibrate_residuals(residuals, tasks, min_count=30)
    assert set(cal.quantiles) == {POOLED, "xnli", "udpos"}  # tydiqa: too few, canonical udpos id
    assert cal.width("xnli") < cal.width("udpos") < cal.width("tydiqa") == cal.width(POOLED)
    assert cal.width("some-unknown-task") == cal.width(POOLED)


def test_json_round_trip_no_pickle() -> None:
    cal = calibrate_residuals(np.arange(-20.0, 20.0), ["xnli"] * 40, level=0.9, meta={"folds": 5})
    text = cal.to_json()
    back = Calibration.from_json(text)
    assert back == cal
    assert '"level": 0.9' in text


def test_bad_level_is_a_clear_error() -> None:
    with pytest.raises(InvalidRequest, match="between 0 and 1"):
        calibrate_residuals([1.0], ["xnli"], level=80)


def test_language_folds_are_deterministic_and_balanced() -> None:
    folds = language_folds(list(LANGS) * 3, 5, seed=0)
    assert folds == language_folds(list(reversed(LANGS)), 5, seed=0)
    assert sorted(np.bincount(list(folds.values()))) == [2, 2, 2, 2, 2]


def test_calibrate_on_a_tiny_training_set(tiny_ts: TrainingSet) -> None:
    cal = calibrate(tiny_ts, level=0.8, folds=5, min_count=20, n_estimators=20)
    assert set(cal.quantiles) == {POOLED, "udpos"}
    lo, hi = cal.quantiles["udpos"]
    assert lo <= 0.0 <= hi and math.isfinite(lo) and math.isfinite(hi)
    assert cal.counts["udpos"] == len(tiny_ts.gains)  # every row got an out-of-fold residual
    assert 0.6 <= cal.meta["cv_coverage"]["udpos"] <= 1.0


def _e(task: str, gain: float, low: float, high: float) -> Entry:
    return Entry(Source(task, "eng"), "intermediate", gain, low, high, "model", "test")


def test_advice_follows_the_items_and_their_intervals() -> None:
    # train: the first item's whole interval clears the noise threshold
    assert advise([_e("squad", 5.0, 1.5, 8.0), _e("mnli", 2.0, -1.0, 5.0)], "tydiqa", "intermediate")[::2] == \
        ("train", ["squad"])
    # measure first: intervals straddle the threshold, expected gains above 0
    verdict, detail, named = advise([_e("squad", 4.0, -6.0, 14.0), _e("mnli", 0.5, -3.0, 4.0),
                                     _e("cola", -2.0, -9.0, 5.0)], "udpos", "intermediate")
    assert verdict == "measure first" and named == ["squad", "mnli"] and "one run of each" in (detail or "")
    # skip: nothing is likely to help (a negative first item never gets "train")
    verdict, detail, named = advise([_e("cola", -0.8, -3.0, 1.5)], "wikiann", "intermediate")
    assert verdict == "skip" and named == [] and "fine-tune on wikiann in English" in (detail or "")
    assert advise([_e("rte", 0.5, 0.1, 0.9)], "xnli", "intermediate")[0] == "skip"  # below the noise threshold
    assert advise([], "udpos", "intermediate") == (None, None, [])


def test_held_out_coverage_per_setting(tiny_ts: TrainingSet) -> None:
    from recommender.evaluation.intervals import held_out_coverage

    out = held_out_coverage(tiny_ts, level=0.8, n_estimators=20)
    assert set(out) == {"tiny · m · udpos", POOLED}
    assert out[POOLED]["rows"] == len(tiny_ts.gains)
    assert 0.5 <= out[POOLED]["coverage"] <= 1.0 and out[POOLED]["mean_width"] > 0


@pytest.mark.slow
def test_held_out_coverage_on_the_shipped_data_is_within_five_points(trained: Path) -> None:
    """Leave-one-target-language-out on every shipped setting (about 20 s)."""
    from recommender.evaluation.intervals import held_out_coverage
    from recommender.service import Service

    svc = Service()
    ts = assemble(group_queries(svc.store.query()), svc.builder)
    out = held_out_coverage(ts, level=0.8)
    matrices = {k: v for k, v in out.items() if k.startswith(("langrankplus", "devries"))}
    assert len(matrices) == 4
    for setting, v in matrices.items():
        assert abs(v["coverage"] - 0.8) <= 0.05, (setting, v)
