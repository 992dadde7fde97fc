"""Tests for recommender.answers.explain: TreeSHAP contributions and the reasons built from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from feature_store.features import FEATURE_NAMES, FeatureBuilder, Source
from feature_store.runs.run import Run
from recommender.answers.explain import Explainer, contributions, reason_of, why
from recommender.model.dataset import assemble, group_queries
from recommender.model.prior import PRIOR_NAMES
from recommender.model.ranker import TransferRanker

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
        for sign in (1.0, -1.0):
            text, caveat = exp.describe(key, z, "xnli", "swa", source, sign)
            assert text != key and " " in text and not text.startswith("feature "), key
            assert isinstance(caveat, bool)
    assert exp.describe("brand_new_feature", z, "xnli", "swa", source) == ("feature brand_new_feature is missing",
                                                                           False)


def test_reasons_are_phrased_with_the_candidates_values(model: TransferRanker, home: Path) -> None:
    exp = Explainer(model.feature_names_, FeatureBuilder().languages)
    nld, jpn = Source("udpos", "nld"), Source("udpos", "jpn")
    z_nld, z_jpn = design(model, "deu", [nld, jpn])

    def text(key: str, z: np.ndarray, source: Source, contribution: float) -> str:
        return exp.describe(key, z, "udpos", "deu", source, contribution)[0]

    assert text("distance:genetic", z_nld, nld, +1.0).startswith(
        "source and target share a family (Indo-European; genetic distance 0.")
    assert "unrelated" in text("distance:genetic", z_jpn, jpn, -1.0)
    assert "GiB of pretraining text (CC-100)" in text("target_cc100", z_nld, nld, +1.0)
    # "beat most" only where the prior counts for the source, "beat few" only where it counts against
    above = z_nld[exp.col["prior_percentile"]] >= 0.5
    assert "Dutch data beat " in text("prior", z_nld, nld, +1.0 if above else -1.0)
    assert "closer to German than English is (syntactic distance" in text("distance:syntactic", z_nld, nld, +1.0)
    # where the trees read a value against its direction word, the sentence states the value without one
    assert "share a family" not in text("distance:genetic", z_nld, nld, -1.0)
    assert text("distance:genetic", z_nld, nld, -1.0).startswith("genetic distance Dutch–German 0.")
    assert "unrelated" not in text("distance:genetic", z_jpn, jpn, +1.0)
    assert "closer" not in text("distance:syntactic", z_nld, nld, -1.0)
    assert "beat " not in text("prior", z_nld, nld, -1.0 if above else +1.0)


def test_why_gives_top_three_signed_reasons_relative_to_the_pool(model: TransferRanker, home: Path) -> None:
    exp = Explainer(model.feature_names_, FeatureBuilder().languages)
    sources = [Source("udpos", lang) for lang in ("nld", "swe", "fin", "hun", "rus")]
    Z = design(model, "deu", sources)
    pool = np.arange(len(sources))
    out = why(exp, model.ranker_, Z, "udpos", ["deu"] * len(sources), sources, [pool] * len(sources), [0, 4])
    assert set(out) == {0, 4}
    for reasons, caveats in out.values():
        assert 1 <= len(reasons) <= 3
        assert all(r[0] in "↑↓" for r in reasons)
        # what is unknown is a caveat, never an arrowed reason
        assert not any(c[0] in "↑↓" for c in caveats)
        assert not any("never measured" in r or " is unknown" in r for r in reasons)
    # with a sub-sampled pool the answer is still three reasons
    few = why(exp, model.ranker_, Z, "udpos", ["deu"] * 5, sources, [pool] * 5, [0], max_peers=2)
    assert 1 <= len(few[0][0]) <= 3


def test_explain_command_prints_the_full_breakdown(trained: Path) -> None:
    import json

    from stepstone.cli import app

    # Wolof → Yoruba UD-POS is a measured cell: its runs, not the model, answer it
    result = CliRunner().invoke(app, ["explain", "--language", "yo", "--task", "udpos", "--source", "wol"])
    assert result.exit_code == 0, result.output
    assert "rank" in result.output and "basis: measured" in result.output and "Wolof" in result.output
    assert "ranker:" not in result.output
    data = json.loads(CliRunner().invoke(app, ["explain", "-l", "yo", "-t", "udpos", "-s", "wol", "--json"]).output)
    assert data["basis"] == "measured" and data["measured"]["runs"] >= 1 and "ranker" not in data

    # Wolof → Swahili is not measured: the model answers, with every contribution of both models
    result = CliRunner().invoke(app, ["explain", "--language", "sw", "--task", "udpos", "--source", "wol"])
    assert result.exit_code == 0, result.output
    assert "rank" in result.output and "ranker:" in result.output and "gain_model:" in result.output
    assert "Wolof" in result.output and "basis: model" in result.output

    result = CliRunner().invoke(app, ["explain", "-l", "sw", "-t", "udpos", "-s", "wol", "--json"])
    data = json.loads(result.output)
    assert data["basis"] == "model" and isinstance(data["gain"], float)
    ranker = data["ranker"]
    # the contributions are measured against the same peers as the answer's reasons, so they add up
    # to this candidate's score minus the peers' mean score
    from recommender.answers.explain import peer_sample
    from recommender.service import Service

    _, ranking = Service()._rank("swa", "udpos", 1, "all")
    row = next(i for i, s in enumerate(ranking.sources) if s.language == "wol")
    peers = peer_sample(np.asarray(ranking.pools[row]), ranking.scores)
    assert ranker["prediction"] == pytest.approx(float(ranking.scores[row]), abs=1e-6)
    assert sum(r["contribution"] for r in ranker["reasons"]) == \
        pytest.approx(ranker["prediction"] - float(ranking.scores[peers].mean()), abs=0.01)
    # and the reasons the answer shows are the table's largest, in its order and with its signs (up to
    # three; the answer stops where a contribution is too small to be material)
    shown = [r for r in ranker["reasons"] if not r["caveat"]][:3]
    assert 1 <= len(data["why"]) <= 3
    assert data["why"] == [f"{'↑' if r['contribution'] > 0 else '↓'} {r['text']}" for r in shown][:len(data["why"])]


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
    # farther, yet the trees count it for the source: the words state the values, no direction word
    [reason] = exp.reasons(grouped, z, "udpos", "deu", nld)
    assert reason.arrow().startswith("↑") and "farther" not in reason.text and "closer" not in reason.text
    assert "0.44" in reason.text and "0.40" in reason.text
    [reason] = exp.reasons(-grouped, z, "udpos", "deu", nld)
    assert reason.arrow().startswith("↓") and "farther from German" in reason.text
    z[d] = 0.400 - 2 * MIN_DISTANCE_GAP
    [reason] = exp.reasons(-grouped, z, "udpos", "deu", nld)
    assert reason.arrow().startswith("↓") and "closer" not in reason.text
    assert exp.reasons(grouped, z, "udpos", "deu", nld, min_abs=6.0) == []  # below the materiality floor
