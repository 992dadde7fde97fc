"""Tests for recommendation annotations (advice, coverage warnings, fields) and `stepstone report`."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from feature_store.features import Source
from feature_store.runs.run import Run
from recommender.answers.coverage import coverage_warnings, distance_warnings, pretraining_warnings, uriel_warnings
from recommender.answers.entry import Entry
from recommender.service import Service


class StubLanguages:
    """Language features built to trigger each warning: 'aaa' fine, 'bbb' imputed, 'ccc' unknown."""

    def known(self, code: str) -> bool:
        return code != "ccc"

    def imputed_fraction(self, code: str) -> dict[str, float]:
        if code == "bbb":
            return {"syntax": 0.65, "phonology": 1.0, "inventory": 0.1}
        return {"syntax": 0.1, "phonology": 0.0, "inventory": 0.0} if code != "ddd" else \
            {"syntax": 1.0, "phonology": 1.0, "inventory": 1.0}

    def cc100_log_gib(self, code: str) -> tuple[float, bool]:
        return (1.0, True) if code in ("aaa", "eng") else (0.0, False)

    def nearest(self, code: str, candidates: list[str], distance: str) -> list[tuple[str, float]]:
        table = {"aaa": 0.05, "bbb": 0.35, "eng": 0.4}
        return sorted(((c, table.get(c, 0.9) if c != code else 0.0) for c in candidates), key=lambda x: x[1])


LF = StubLanguages()


def test_no_warnings_for_a_well_covered_language() -> None:
    assert coverage_warnings("aaa", "udpos", ["aaa", "eng"], LF) == []  # type: ignore[arg-type]


def test_partly_imputed_uriel_names_the_groups() -> None:
    (w,) = uriel_warnings("bbb", LF)  # type: ignore[arg-type]
    assert "partly imputed" in w and "syntax 65%" in w and "phonology 100%" in w and "inventory" not in w


def test_fully_imputed_and_missing_uriel() -> None:
    (w,) = uriel_warnings("ddd", LF)  # type: ignore[arg-type]
    assert "no URIEL typology data" in w
    (w,) = uriel_warnings("ccc", LF)  # type: ignore[arg-type]
    assert w.startswith("no URIEL features for") and "(ccc)" in w


def test_not_in_pretraining_languages() -> None:
    (w,) = pretraining_warnings("bbb", LF, "XLM-R")  # type: ignore[arg-type]
    assert "not among XLM-R's pretraining languages (CC-100)" in w
    assert pretraining_warnings("aaa", LF) == []  # type: ignore[arg-type]


def test_no_run_within_the_typological_distance_names_the_nearest() -> None:
    (w,) = distance_warnings("bbb", ["eng", "zzz"], LF, "udpos", max_distance=0.2)  # type: ignore[arg-type]
    assert "within typological distance 0.20" in w and "nearest measured target is" in w and "(eng)" in w
    assert distance_warnings("bbb", ["eng"], LF, "udpos", max_distance=0.5) == []  # type: ignore[arg-type]
    (w,) = distance_warnings("bbb", [], LF, "udpos")  # type: ignore[arg-type]
    assert "no target language has runs of udpos" in w
    assert distance_warnings("ccc", ["eng"], LF, "udpos") == []  # type: ignore[arg-type]


def test_real_languages_trigger_the_warnings(trained: Path) -> None:
    from feature_store.lang_features import get_language_features

    lf = get_language_features()
    assert any("not among XLM-R" in w for w in coverage_warnings("yor", "xnli", ["eng"], lf))
    assert any("no URIEL features" in w for w in coverage_warnings("hyw", "xnli", ["eng"], lf))
    assert any("phonology 100%" in w for w in coverage_warnings("quc", "xnli", ["eng"], lf))
    assert coverage_warnings("deu", "xnli", ["deu", "eng"], lf) == []


def test_recommend_returns_interval_reasons_advice_and_coverage(trained: Path) -> None:
    from recommender.service import Service

    result = Service().recommend("yo", "udpos", k=5, candidates="language").as_dict()
    assert result["interval_level"] == 0.8 and result["noise_threshold"] == 1.0
    assert result["baseline"] == {"source_task": "udpos", "source_language": "eng",
                                  "source_language_name": "English"}
    decision = result["decisions"]["language"]
    items = decision["recommendations"]
    assert len(items) == 5
    for item in items:
        assert item["gain_low"] < item["gain"] < item["gain_high"]  # an interval around the figure shown
        assert 1 <= len(item["why"]) <= 3
    # the store measured these Yoruba cells: the best is trained on only when its interval clears the noise
    assert all(item["basis"] == "measured" and item["measured"]["runs"] >= 1 for item in items)
    assert decision["advice"] == "train" and items[0]["gain_low"] >= result["noise_threshold"]
    assert decision["advice_sources"] == [f"{items[0]['source_language_name']} ({items[0]['source_language']})"]
    assert any("not among XLM-R's pretraining languages" in w for w in result["warnings"])


def negative_runs() -> list[Run]:
    """Every source is worse than English for every target: the model should say 'skip'."""
    langs = ("deu", "nld", "swe", "fra", "spa", "ita", "rus", "pol", "fin", "hun")
    runs = []
    for i, tgt in enumerate(langs):
        runs.append(Run("udpos", tgt, "udpos", "eng", 90.0, dataset="neg", model="m", metric="accuracy",
                        baseline_score=90.0))
        for j, src in enumerate(langs):
            if src != tgt:
                runs.append(Run("udpos", tgt, "udpos", src, 70.0 - abs(i - j) * 0.5, dataset="neg", model="m",
                                metric="accuracy", baseline_score=90.0))
    return runs


def test_skip_advice_when_all_gains_are_negative(home: Path) -> None:
    from recommender.service import Service

    svc = Service(seed=False)
    svc.import_runs(negative_runs())
    info = svc.retrain(n_estimators=30)
    assert info["calibration"]["level"] == 0.8
    for target in ("deu", "dan"):  # a measured target, and one the model predicts
        result = svc.recommend(target, "udpos", k=3, candidates="language").as_dict()
        decision = result["decisions"]["language"]
        top = decision["recommendations"][0]
        assert top["basis"] == ("measured" if target == "deu" else "model")
        assert top["gain_high"] < 0
        assert decision["advice"] == "skip" and decision["advice_sources"] == []
        assert "fine-tune on udpos in English" in decision["advice_detail"]
        assert result["baseline"]["source_language"] == "eng"


def test_calibration_file_is_checksummed_with_the_model(trained: Path) -> None:
    import json

    from recommender.model.registry import ModelRegistry

    reg = ModelRegistry()
    version = reg.current()
    assert version is not None
    meta = json.loads((reg.versions_dir / version / "meta.json").read_text())
    assert "calibration.json" in meta["files"]
    (reg.versions_dir / version / "calibration.json").write_text("{}")
    from feature_store.errors import ModelCorrupted

    with pytest.raises(ModelCorrupted, match="calibration.json"):
        reg.load(version)


def test_report_files_exist_and_png_has_the_expected_size(trained: Path, tmp_path: Path) -> None:
    from PIL import Image

    from recommender.evaluation.report import DPI, heatmap_size, write_report
    from recommender.service import Service

    report = Service().report("udpos", ["yo", "deu", "Finnish"], k=2)
    assert [lang.code for lang in report.languages] == ["yor", "deu", "fin"]
    assert all(len(lang.decisions["language"]["recommendations"]) == 2 for lang in report.languages)
    # UD-POS has intermediate runs of its own (the shipped me5-small matrix): the model rung answers
    assert all(lang.decisions["intermediate"]["basis"] == "model" for lang in report.languages)
    svc = Service()
    for lang in report.languages:  # recommend and report agree on every row
        assert lang.decisions == svc.recommend(lang.code, "udpos", k=2).as_dict()["decisions"]
    assert report.gain.shape == (3, len(report.columns))
    doc, png = write_report(report, tmp_path / "out", "md")
    assert doc.name == "report.md" and png.name == "heatmap.png"
    w, h = heatmap_size(3, len(report.columns))
    with Image.open(png) as image:
        assert image.size == (round(w * DPI), round(h * DPI))
    text = doc.read_text()
    assert "## Per language" in text and "### Yoruba (yor)" in text and "80% interval" in text
    assert "## Data provenance" in text and "de Vries" in text and "model v0001" in text
    html_doc, _ = write_report(report, tmp_path / "html", "html")
    page = html_doc.read_text()
    assert "data:image/png;base64," in page and "Yoruba (yor)" in page


def test_report_command(trained: Path, tmp_path: Path) -> None:
    from stepstone.cli import app

    out = tmp_path / "rep"
    result = CliRunner().invoke(app, ["report", "--task", "xnli", "--languages", "sw,yo", "--k", "2",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "report.md").is_file() and (out / "heatmap.png").is_file()
    assert "2 languages" in result.output

    result = CliRunner().invoke(app, ["report", "--task", "xnli", "--out", str(out)])
    assert result.exit_code == 1
    assert "Error: pass --languages sw,yo,… or --all-known" in result.output


@pytest.mark.slow
def test_report_for_all_udpos_languages_agrees_with_recommend(trained: Path, tmp_path: Path) -> None:
    from recommender.evaluation.report import write_report
    from recommender.service import Service

    svc = Service()
    report = svc.report("udpos", k=3)
    write_report(report, tmp_path / "all")
    from feature_store.runs.seed import shipped_runs
    from feature_store.tasks import canonical_task

    measured = {r.target_language for r in shipped_runs() if canonical_task(r.target_task) == "udpos"}
    assert len(measured) >= 105 and {lang.code for lang in report.languages} == measured
    for lang in report.languages[::10]:
        answer = svc.recommend(lang.code, "udpos", k=3).as_dict()
        assert lang.decisions == answer["decisions"]


def _entry(language: str, gain: float, low: float, high: float) -> Entry:
    return Entry(Source("udpos", language), "language", gain, low, high, "model", "test")


def test_advice_follows_the_best_item_and_its_interval(trained: Path) -> None:
    """Advice reads the items as ordered (the highest figure first) and their intervals."""
    from recommender.answers.advice import NOISE_THRESHOLD, advise
    from recommender.answers.entry import ordered

    assert NOISE_THRESHOLD == 1.0
    # the ranker's first may be negative: the order is by the figure, so the +3 item leads
    entries = ordered([_entry("ron", -0.5, -2.0, 1.0), _entry("deu", 3.0, 1.5, 4.5)])
    verdict, detail, named = advise(entries, "udpos", "language")
    assert verdict == "train" and named == ["German (deu)"] and "+3.00" in detail
    # an interval that includes 0 (or the noise) never gets "train": measure first, naming what would decide
    verdict, detail, named = advise(ordered([_entry("deu", 5.0, -0.5, 10.5), _entry("nld", 1.0, -1.0, 3.0),
                                             _entry("fin", -1.0, -3.0, 2.0)]), "udpos", "language")
    assert verdict == "measure first" and named == ["German (deu)", "Dutch (nld)"] and "one run" in detail
    # nothing likely to help: skip, saying what the best was
    verdict, detail, named = advise([_entry("ron", -0.5, -2.0, 1.0)], "udpos", "language")
    assert verdict == "skip" and named == [] and "Romanian (ron)" in detail and "-0.50" in detail
    # no interval, no "train"
    assert advise([_entry("deu", 3.0, math.nan, math.nan)], "udpos", "language")[0] == "measure first"

    out = Service().recommend("yo", "udpos", k=1, candidates="language")
    every = Service().recommend("yo", "udpos", k=50, candidates="language").decisions["language"].recommendations
    best = every[0]
    assert best.gain == max(r.gain for r in every if r.gain is not None)
    d = out.decisions["language"]
    assert d.recommendations[0] == best  # the first of k=1 is the best of all
    assert d.advice == ("train" if best.gain_low >= out.noise_threshold else "measure first" if best.gain > 0
                        else "skip")


# A nine-task mixture's full name as a column label was taller than a figure of a few languages.
def test_a_short_report_keeps_a_readable_heatmap(trained: Path, tmp_path: Path) -> None:
    import warnings

    from recommender.evaluation.report import plot_heatmap

    report = Service().report("xnli", ["sw", "yo"], k=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plot_heatmap(report, tmp_path / "heatmap.png")
