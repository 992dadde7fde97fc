"""Tests for recommender.answers.explain: TreeSHAP contributions and the reasons built from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from feature_store.features import FEATURE_NAMES, FeatureBuilder, Source
from feature_store.runs import Run
from recommender.answers.explain import Explainer, contributions, reason_of, why
from recommender.model.dataset import assemble, group_queries
from recommender.model.ranker import PRIOR_NAMES, TransferRanker

LANGS = ("deu", "nld", "swe", "fra", "spa", "ita", "rus", "pol", "fin", "hun")


def tiny_model() -> TransferRanker:
    rng = np.random.default_rng(0)
    runs = []
    for i, tgt in enumerate(LANGS):
        runs.append(Run("udpos", tgt, "udpos", "eng", 80.0, dataset="tiny", model="m", metric="accuracy",
                        baseline_score=80.0))
        for j, src in enumerate(LANGS):
            if src != tgt:
                runs.append(Run("udpos", tgt, "udpos", src, 83.0 - abs(i - j) + float(rng.normal(0, 0.5)),
                                dataset="tiny", model="m", metric="accuracy", baseline_score=80.0))
    return TransferRanker(n_estimators=30).fit(assemble(group_queries(runs)))


@pytest.fixture
def model(home: Path) -> TransferRanker:
    return tiny_model()


def design(model: TransferRanker, target: str, sources: list[Source]) -> np.ndarray:
    return model.design(FeatureBuilder().build("udpos", target, sources), "udpos", sources)


def test_contributions_sum_to_the_prediction(model: TransferRanker) -> None:
    sources = [Source("udpos", lang) for lang in ("nld", "swe", "fin", "eng")]
    Z = design(model, "deu", sources)
    assert model.gain_ is not None
    for booster, predict in ((model.ranker_, model.score), (model.gain_, model.predict_gain)):
        c = contributions(booster, Z)
        assert c.shape == (len(sources), len(model.feature_names_) + 1)
        np.testing.assert_allclose(c.sum(axis=1), predict(Z), rtol=1e-6, atol=1e-6)


def test_grouping_into_reasons_keeps_the_sum(model: TransferRanker, home: Path) -> None:
    exp = Explainer(model.feature_names_, FeatureBuilder().languages)
    Z = design(model, "deu", [Source("udpos", "nld"), Source("udpos", "fin")])
    c = contributions(model.ranker_, Z)[:, :-1]
    np.testing.assert_allclose(exp.group(c).sum(axis=1), c.sum(axis=1))
    assert len(exp.order) < len(model.feature_names_)


def test_every_feature_has_a_reason_with_words(model: TransferRanker, home: Path) -> None:
    exp = Explainer([*FEATURE_NAMES, *PRIOR_NAMES], FeatureBuilder().languages)
    assert {reason_of(n) for n in model.feature_names_} <= set(exp.order)
    source = Source("mnli", "eng")
    z = FeatureBuilder().build("xnli", "swa", [source])[0]
    z = np.concatenate([z, [0.7, 1.5, 12.0]])
    for key in exp.order:
        text = exp.describe(key, z, "xnli", "swa", source)
        assert text != key and " " in text and not text.startswith("feature "), key
    assert exp.describe("brand_new_feature", z, "xnli", "swa", source) == "feature brand_new_feature is missing"


def test_reasons_are_phrased_with_the_candidates_values(model: TransferRanker, home: Path) -> None:
    exp = Explainer(model.feature_names_, FeatureBuilder().languages)
    nld, jpn = Source("udpos", "nld"), Source("udpos", "jpn")
    z_nld, z_jpn = design(model, "deu", [nld, jpn])
    assert exp.describe("distance:genetic", z_nld, "udpos", "deu", nld).startswith(
        "source and target share a family (Indo-European; genetic distance 0.")
    assert "unrelated" in exp.describe("distance:genetic", z_jpn, "udpos", "deu", jpn)
    assert "GiB of pretraining text (CC-100)" in exp.describe("target_cc100", z_nld, "udpos", "deu", nld)
    assert "Dutch data beat " in exp.describe("prior", z_nld, "udpos", "deu", nld)
    assert "closer to German than English is (syntactic distance" in \
        exp.describe("distance:syntactic", z_nld, "udpos", "deu", nld)


def test_why_gives_top_three_signed_reasons_relative_to_the_pool(model: TransferRanker, home: Path) -> None:
    exp = Explainer(model.feature_names_, FeatureBuilder().languages)
    sources = [Source("udpos", lang) for lang in ("nld", "swe", "fin", "hun", "rus")]
    Z = design(model, "deu", sources)
    pool = np.arange(len(sources))
    out = why(exp, model.ranker_, Z, "udpos", ["deu"] * len(sources), sources, [pool] * len(sources), [0, 4])
    assert set(out) == {0, 4}
    for reasons in out.values():
        assert 1 <= len(reasons) <= 3
        assert all(r[0] in "↑↓" for r in reasons)
    # with a sub-sampled pool the answer is still three reasons
    few = why(exp, model.ranker_, Z, "udpos", ["deu"] * 5, sources, [pool] * 5, [0], max_peers=2)
    assert 1 <= len(few[0]) <= 3


def test_explain_command_prints_the_full_breakdown(trained: Path) -> None:
    from stepstone.cli import app

    result = CliRunner().invoke(app, ["explain", "--language", "yo", "--task", "udpos", "--source", "wol"])
    assert result.exit_code == 0, result.output
    assert "rank" in result.output and "ranker:" in result.output and "gain:" in result.output
    assert "Wolof" in result.output

    result = CliRunner().invoke(app, ["explain", "-l", "yo", "-t", "udpos", "-s", "wol", "--json"])
    import json

    data = json.loads(result.output)
    ranker = data["ranker"]
    assert sum(r["contribution"] for r in ranker["reasons"]) + ranker["expected_value"] == \
        pytest.approx(ranker["prediction"], abs=0.01)


def test_explain_unknown_source_is_a_clear_error(trained: Path) -> None:
    from stepstone.cli import app

    result = CliRunner().invoke(app, ["explain", "-l", "yo", "-t", "udpos", "-s", "klingon"])
    assert result.exit_code == 1
    assert "Error: 'klingon' is not a candidate source for udpos → yor; candidates:" in result.output


def test_reasons_are_material_and_their_direction_word_matches_the_numbers(model: TransferRanker,
                                                                           home: Path) -> None:
    from recommender.answers.explain import MIN_DISTANCE_GAP

    exp = Explainer(model.feature_names_, FeatureBuilder().languages)
    nld = Source("udpos", "nld")
    z = design(model, "deu", [nld])[0].copy()
    d, eng = exp.col["dist_syntactic"], exp.col["target_eng_syntactic"]
    z[d], z[eng] = 0.401, 0.400  # a difference no URIEL distance can vouch for
    assert exp.immaterial_distance("distance:syntactic", z, nld)
    grouped = np.zeros(len(exp.order))
    grouped[exp.order.index("distance:syntactic")] = 5.0
    assert exp.reasons(grouped, z, "udpos", "deu", nld) == []  # large contribution, but not a real difference
    z[d] = 0.400 - 2 * MIN_DISTANCE_GAP
    [reason] = exp.reasons(grouped, z, "udpos", "deu", nld)
    assert "closer to German than English is" in reason.text and "0.36 vs 0.40" in reason.text
    z[d] = 0.400 + 2 * MIN_DISTANCE_GAP
    assert "farther from German" in exp.reasons(grouped, z, "udpos", "deu", nld)[0].text
    assert exp.reasons(grouped, z, "udpos", "deu", nld, min_abs=6.0) == []  # below the materiality floor
