"""Tests for recommendation annotations (advice, coverage warnings, fields) and `stepstone report`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from feature_store.runs import Run
from recommender.answers.coverage import coverage_warnings, distance_warnings, pretraining_warnings, uriel_warnings
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

    result = Service().recommend("yo", "udpos", k=5, candidates="language")
    assert result["interval_level"] == 0.8
    assert result["advice"] in ("train", "skip")
    assert result["baseline"] == {"source_task": "udpos", "source_language": "eng",
                                  "source_language_name": "English"}
    for item in result["recommendations"]:
        assert item["gain_low"] < item["gain_high"]  # calibrated, not forced around the prediction
        assert len(item["why"]) <= 3
    assert any(item["why"] for item in result["recommendations"])
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
    result = svc.recommend("deu", "udpos", k=3, candidates="language")
    top = result["recommendations"][0]
    assert top["gain_high"] < 0
    assert result["advice"] == "skip"
    assert "fine-tune on udpos in English" in result["advice_detail"]
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
        assert lang.decisions == svc.recommend(lang.code, "udpos", k=2)["decisions"]
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
    from feature_store.seed import shipped_runs
    from feature_store.tasks import canonical_task

    measured = {r.target_language for r in shipped_runs() if canonical_task(r.target_task) == "udpos"}
    assert len(measured) >= 105 and {lang.code for lang in report.languages} == measured
    for lang in report.languages[::10]:
        answer = svc.recommend(lang.code, "udpos", k=3)
        assert lang.decisions == answer["decisions"]


def test_skip_looks_at_the_best_gain_of_the_decision_not_at_the_rankers_first(trained: Path) -> None:
    """Advice takes the highest predicted gain over every candidate of a decision."""
    from recommender.answers.advice import advice

    assert advice(3.0, "udpos")[0] == "train"  # the ranker's first may be negative: another reaches +3
    verdict, detail = advice(-0.5, "udpos", "language", "Romanian (ron)")
    assert verdict == "skip" and "Romanian (ron)" in detail and "-0.50" in detail
    out = Service().recommend("yo", "udpos", k=1, candidates="language")
    best = max(r["predicted_gain"] for r in Service().recommend("yo", "udpos", k=50,
                                                                candidates="language")["recommendations"])
    assert out["advice"] == ("train" if best >= 1 else "skip")
