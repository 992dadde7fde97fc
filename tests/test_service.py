"""The service functions behind the CLI and the API."""

from __future__ import annotations

from pathlib import Path

import pytest

from feature_store.errors import InvalidRequest, UnknownLanguage, UnknownTask
from feature_store.evidence import literature_priors
from recommender.service import Service
from tests.helpers import write_csv, xstilts_rows


def test_recommend_ranks_k_sources_with_model_version(trained: Path) -> None:
    out = Service().recommend("Swahili", "xnli", k=5, candidates="language")
    assert out["query"]["language"] == "swa"
    assert [r["rank"] for r in out["recommendations"]] == [1, 2, 3, 4, 5]
    assert all(r["basis"] == "model" and r["source_language"] != "swa" for r in out["recommendations"])
    assert out["model_version"] == "v0001"


def test_intermediate_falls_back_to_the_literature_prior_and_says_so(trained: Path) -> None:
    out = Service().recommend("sw", "xnli", k=3, candidates="intermediate")
    recs = out["recommendations"]
    assert [r["source_task"] for r in recs][1:] == ["squad", "mnli"]
    assert [r["predicted_gain"] for r in recs] == [8.7, 8.2, 7.5]
    assert all(r["basis"] == "literature-prior" for r in recs)
    assert any("published average gains" in w for w in out["warnings"])
    assert [p.gain for p in literature_priors()] == [8.7, 8.2, 7.5, 7.0]


def test_imported_intermediate_runs_replace_the_prior_after_retrain(trained: Path, tmp_path: Path) -> None:
    svc = Service()
    result = svc.import_file(write_csv(tmp_path / "x.csv", xstilts_rows()))
    assert result.inserted == 16
    svc.retrain()
    out = svc.recommend("yo", "xnli", k=3, candidates="intermediate")
    assert {r["source_task"] for r in out["recommendations"]} == {"mnli", "squad", "hellaswag"}
    assert all(r["basis"] == "model" for r in out["recommendations"])
    assert out["model_version"] == "v0002"


@pytest.mark.parametrize("k", [0, 51, -1])
def test_bad_k(trained: Path, k: int) -> None:
    with pytest.raises(InvalidRequest, match=f"k must be an integer from 1 to 50, got {k}"):
        Service().recommend("sw", "xnli", k=k)


def test_unknown_language_and_task(trained: Path) -> None:
    svc = Service()
    with pytest.raises(UnknownLanguage) as err:
        svc.recommend("Swahilli", "xnli")
    assert "swa (Swahili)" in err.value.suggestions
    with pytest.raises(UnknownTask, match="unknown task 'xnil'"):
        svc.recommend("sw", "xnil")
    with pytest.raises(InvalidRequest, match="candidates must be one of"):
        svc.recommend("sw", "xnli", candidates="everything")


def test_languages_and_tasks_listings(trained: Path) -> None:
    svc = Service()
    langs = {row["code"]: row for row in svc.languages()}
    assert langs["swa"]["target_runs"] > 0 and langs["swa"]["cc100_gib"] == pytest.approx(1.6)
    tasks = {row["id"]: row for row in svc.tasks()}
    assert tasks["udpos"]["runs"] == 6825 and tasks["mnli"]["runs"] == 0


def test_a_model_built_on_other_features_is_refused_with_a_retrain_error(trained: Path) -> None:
    import json

    from feature_store.errors import ModelIncompatible
    from feature_store.paths import models_dir

    svc = Service()
    version = svc.live().version
    params = models_dir() / "versions" / version / "params.json"
    data = json.loads(params.read_text())
    data["feature_names"] = data["feature_names"][:-1]  # a stepstone that built one feature fewer
    params.write_text(json.dumps(data))
    meta = params.with_name("meta.json")
    m = json.loads(meta.read_text())
    import hashlib
    m["files"]["params.json"] = hashlib.sha256(params.read_bytes()).hexdigest()
    meta.write_text(json.dumps(m))
    with pytest.raises(ModelIncompatible, match="stepstone retrain"):
        Service().live()
    assert Service().ensure_model().version != version  # `stepstone init` rebuilds it
