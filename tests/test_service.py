"""The service functions behind the CLI and the API."""

from __future__ import annotations

from pathlib import Path

import pytest

from feature_store.errors import InvalidRequest, UnknownLanguage, UnknownTask
from feature_store.evidence import literature_priors
from feature_store.runs.seed import shipped_runs
from recommender.service import Service
from tests.helpers import pawsx_rows, write_csv, xstilts_rows


def test_recommend_ranks_k_sources_with_model_version(trained: Path) -> None:
    out = Service().recommend("Swahili", "xnli", k=5, candidates="language").as_dict()
    assert out["query"]["language"] == "swa"
    recs = out["decisions"]["language"]["recommendations"]
    assert [r["rank"] for r in recs] == [1, 2, 3, 4, 5]
    assert all(r["basis"] in ("model", "measured") and r["source_language"] != "swa" for r in recs)
    assert out["decisions"]["intermediate"]["recommendations"] == []  # not asked for: one shape, empty
    assert out["model_version"] == "v0001"


@pytest.mark.parametrize(("language", "task", "bound", "verdict"), [
    ("sw", "xnli", 0.8, "measure first"), ("ja", "pawsx", 1.5, "measure first"), ("te", "tydiqa", 10.9, "train"),
    ("yo", "wikiann", -1.4, "skip")])
def test_published_intermediate_items_are_named_tasks_bounded_by_the_per_target_figure(
        trained: Path, language: str, task: str, bound: float, verdict: str) -> None:
    out = Service().recommend(language, task, k=5, candidates="intermediate").as_dict()
    d = out["decisions"]["intermediate"]
    recs = d["recommendations"]
    names = {r["source_task"] for r in recs}
    assert {"squad", "hellaswag"} <= names and "xstilts-best" not in names  # named, runnable tasks only
    assert ("mnli" in names) == (task != "xnli")  # MNLI is XNLI's own English training data
    assert all(r["basis"] == "published per target task" and r["gain"] <= bound for r in recs)
    assert all(r["gain_low"] < r["gain"] < r["gain_high"] for r in recs)  # an interval, not the figure alone
    assert any("does not say which task" in n for n in d["notes"])  # the unnamed best-of-nine is context
    assert d["advice"] == verdict
    if verdict == "train":
        assert recs[0]["gain_low"] >= out["noise_threshold"]


def test_no_intermediate_gain_of_three_points_without_runs_for_the_task(trained: Path) -> None:
    svc = Service()
    for language, task in (("sw", "xnli"), ("yo", "udpos")):
        recs = svc.recommend(language, task, k=5, candidates="intermediate").decisions["intermediate"].recommendations
        assert recs and all(r.gain is not None and r.gain < 3 and r.gain_low is not None for r in recs)
    assert [p.gain for p in literature_priors()] == [8.7, 8.2, 7.5, 7.0]


def test_published_overall_only_where_nothing_more_specific_exists(trained: Path) -> None:
    svc = Service()
    d = svc.recommend("sw", "xcopa", candidates="intermediate").decisions["intermediate"]
    assert d.basis == "published overall"
    assert all(r.gain is not None and r.gain < 5 and r.gain_high - r.gain_low > 10 for r in d.recommendations)
    assert any("no published figure for xcopa" in n for n in d.notes)
    d = svc.recommend("sw", "tatoeba", candidates="intermediate").decisions["intermediate"]
    assert [r.gain for r in d.recommendations] == [8.7, 8.2, 7.5]  # retrieval: the per-task averages fit


def test_all_answers_two_decisions_each_ranked_within_its_kind(trained: Path) -> None:
    out = Service().recommend("sw", "xnli", k=3).as_dict()
    assert "recommendations" not in out and "advice" not in out  # no list that mixes two scales
    assert set(out["decisions"]) == {"intermediate", "language"}
    for kind, decision in out["decisions"].items():
        assert decision["kind"] == kind and decision["scale"]
        assert [r["rank"] for r in decision["recommendations"]] == list(range(1, len(decision["recommendations"]) + 1))
        assert all(r["kind"] == kind for r in decision["recommendations"])
    assert all(r["source_language"] not in ("swa", "eng") for r in out["decisions"]["language"]["recommendations"])


def test_multilingual_intermediate_results_are_shipped_and_model_based(trained: Path) -> None:
    svc = Service()
    runs = svc.list_runs(dataset="xcsr", source_language="mul", limit=1000)
    assert runs["total"] == 64
    recs = svc.recommend("pl", "xcsqa", k=10, candidates="intermediate").decisions["intermediate"].recommendations
    [item] = [r for r in recs if r.source_task == "mcp"]
    assert (item.source_language, item.basis) == ("mul", "measured")  # X-CSR measured Polish itself
    # a query that names no model counts the runs of every model: X-CSR ran XLM-R Base and Large
    assert item.measured is not None and item.measured.models == ["XLM-R Base", "XLM-R Large"]
    assert item.measured.runs == 2 and item.measured.datasets == ["xcsr"]
    assert item.gain_low is not None and item.gain_low <= item.gain <= item.gain_high
    # naming a model keeps only its runs, and the figure shown is theirs
    recs = svc.recommend("pl", "xcsqa", k=10, candidates="intermediate",
                         model="XLM-R Large").decisions["intermediate"].recommendations
    [large] = [r for r in recs if r.source_task == "mcp"]
    assert large.measured is not None and large.measured.models == ["XLM-R Large"] and large.measured.runs == 1
    assert large.gain != item.gain


def test_imported_intermediate_runs_replace_the_prior_after_retrain(trained: Path, tmp_path: Path) -> None:
    svc = Service()
    result = svc.import_file(write_csv(tmp_path / "x.csv", xstilts_rows()))
    assert result.inserted == 16
    svc.retrain()
    # Yoruba is among the imported targets: its cells are measured, and the answer shows their gains
    out = svc.recommend("yo", "xnli", k=3, candidates="intermediate")
    recs = out.decisions["intermediate"].recommendations
    assert [(r.source_task, r.basis) for r in recs] == [("mnli", "measured"), ("squad", "measured"),
                                                       ("hellaswag", "measured")]
    assert [r.gain for r in recs] == pytest.approx([3.1, 2.1, 1.1])
    assert all(r.measured is not None and r.measured.datasets == ["lab"] for r in recs)
    assert out.model_version == "v0002"
    # a target outside the import is predicted from them by the model, no longer by the prior
    recs = svc.recommend("fr", "xnli", k=3, candidates="intermediate").decisions["intermediate"].recommendations
    assert {r.source_task for r in recs} == {"mnli", "squad", "hellaswag"}
    assert all(r.basis == "model" for r in recs)


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
    shipped = shipped_runs()
    own = sum(1 for r in shipped if r.dataset.startswith("stepstone-me5-small") and r.target_task == "udpos")
    # every dataset version counts: the 6,825 XTREME runs sit under udpos_v2.8
    assert tasks["udpos"]["target_runs"] == 6825 + own
    as_intermediate = sum(1 for r in shipped if r.source_task.startswith("udpos") and
                          not r.target_task.startswith("udpos"))
    assert as_intermediate > 0 and tasks["udpos"]["intermediate_runs"] == as_intermediate
    assert tasks["udpos"]["runs"] == tasks["udpos"]["target_runs"] + tasks["udpos"]["intermediate_runs"]
    assert tasks["mnli"]["runs"] == 0
    # CoLA is never a target, but runs use it as an intermediate task: not 0 runs
    assert tasks["cola"]["target_runs"] == 0 and tasks["cola"]["intermediate_runs"] > 0
    assert tasks["cola"]["runs"] == tasks["cola"]["intermediate_runs"]
    assert tasks["xcsqa"]["runs"] == 64 and tasks["xnli-prompted"]["runs"] > 0
    assert tasks["xcsqa"]["train_languages"] == ["eng"] and "X-CSR" in tasks["xcsqa"]["train_languages_source"]


def test_a_run_listing_names_the_other_dataset_versions_of_its_task(trained: Path) -> None:
    svc = Service()
    page = svc.list_runs(target_task="udpos", target_language="yor", limit=1000)
    assert page["total"] == len(page["runs"]) and all(r["target_task"] == "udpos" for r in page["runs"])
    [note] = page["notes"]
    assert "udpos_v2.8" in note and "not listed here" in note
    other = svc.list_runs(target_task="udpos_v2.8", target_language="yor", limit=1000)
    assert other["total"] > 0 and any("runs under udpos" in n for n in other["notes"])
    assert not svc.list_runs(dataset="xcsr", limit=1)["notes"]  # no task filter, nothing left out


def test_a_run_listing_counts_the_other_versions_under_the_same_filters(trained: Path) -> None:
    svc = Service()
    other = svc.list_runs(target_task="udpos_v2.8", target_language="yor", limit=1)["total"]
    [note] = svc.list_runs(target_task="udpos", target_language="yor", limit=1)["notes"]
    assert f"{other} runs under udpos_v2.8" in note


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


def test_the_shipped_me5_small_runs_answer_intermediate_questions_and_say_whose_they_are(trained: Path) -> None:
    svc = Service()
    for language, task in (("yo", "udpos"), ("sw", "sib200")):
        d = svc.recommend(language, task, k=20, candidates="intermediate").as_dict()["decisions"]["intermediate"]
        assert d["basis"] == "model", (language, task)
        own = [r for r in d["recommendations"] if r["basis"] in ("model", "measured")]
        assert own and all(r["gain_low"] <= r["gain"] <= r["gain_high"] for r in own)
        assert all(any("not about XLM-R Large" in c for c in r["caveats"]) for r in own)
        assert all("me5-small" in " ".join(r["measured"]["models"]) for r in own if r["basis"] == "measured")
    cola = [r for r in svc.recommend("yo", "udpos", k=20, candidates="intermediate").decisions["intermediate"]
            .recommendations if r.source_task == "cola"]
    # the shipped matrix's CoLA cleared its English dev gate in every seed: no "not learned" caveat
    assert cola and not any("not learned" in c for c in cola[0].caveats)
    assert all(r.dataset != "stepstone-me5-small" for r in svc.store.query(source_task="cola", limit=50))
    # a target with no runs of its own keeps the published rung
    assert svc.recommend("sw", "xnli", candidates="intermediate").decisions["intermediate"].basis != "model"


def test_an_intermediate_task_never_learned_is_said_so_beside_its_gain(trained: Path, tmp_path: Path) -> None:
    svc = Service()
    rows = pawsx_rows(model="me5-small")
    for row in rows:
        if row["source_task"] == "squad":
            row["flags"] = "near_chance:phase1:squad"
        else:
            row["flags"] = ""
    assert svc.import_file(write_csv(tmp_path / "pawsx.csv", rows)).inserted == 96
    items = svc.recommend("it", "pawsx", k=5, candidates="intermediate").decisions["intermediate"].recommendations
    caveats = {r.source_task: " ".join(r.caveats) for r in items}
    assert "squad itself was not learned" in caveats["squad"]
    assert "not learned" not in caveats["mnli"]


def test_an_answer_from_a_small_models_runs_carries_that_models_caveat(trained: Path, tmp_path: Path) -> None:
    svc = Service()
    assert svc.import_file(write_csv(tmp_path / "pawsx.csv", pawsx_rows(model="me5-small"))).inserted == 96
    d = svc.recommend("it", "pawsx", k=3, candidates="intermediate").decisions["intermediate"]
    assert d.basis == "model"
    own = [r for r in d.recommendations if r.basis == "model"]
    assert len(own) >= 2
    for r in own:
        assert "multilingual-e5-small (intfloat), 4-bit-dequantized (me5-small)" in r.evidence
        assert any("4-bit-dequantized" in c and "not about XLM-R Large" in c for c in r.caveats)
    # the small model's measured cells (German is among its targets) carry the same caveat
    d = svc.recommend("de", "pawsx", k=3, candidates="intermediate").decisions["intermediate"]
    measured = [r for r in d.recommendations if r.basis == "measured"]
    assert measured and all(r.measured is not None and r.measured.models == ["me5-small"] for r in measured)
    for r in measured:
        assert "me5-small" in r.evidence
        assert any("4-bit-dequantized" in c and "not about XLM-R Large" in c for c in r.caveats)


def test_imported_intermediate_runs_generalise_to_languages_outside_them(trained: Path, tmp_path: Path) -> None:
    svc = Service()
    assert svc.recommend("it", "pawsx", candidates="intermediate").decisions["intermediate"].basis == \
        "published per target task"
    assert svc.import_file(write_csv(tmp_path / "pawsx.csv", pawsx_rows())).inserted == 96
    for language, best in (("it", "mnli"), ("pt", "mnli"), ("uk", "mnli"), ("mr", "squad"), ("ms", "squad")):
        d = svc.recommend(language, "pawsx", k=3, candidates="intermediate").decisions["intermediate"]
        recs = d.recommendations
        assert d.basis == "model", language
        # the tasks with runs are predicted by the model; only a task without runs (the nine-task
        # mixture) keeps its published figure
        assert {r.source_task for r in recs if r.basis == "model"} >= {best, "hellaswag"}, (language, recs)
        assert all(r.basis == "model" or (r.basis == "published per target task" and "+" in r.source_task)
                   for r in recs), (language, recs)
        assert recs[0].source_task == best and recs[0].basis == "model" and recs[0].gain >= 1.5, (language, recs)
        gains = [r.gain for r in recs]
        assert gains == sorted(gains, reverse=True)  # one order: by the gain shown
        assert all(r.gain_low < r.gain < r.gain_high for r in recs)
        assert d.advice in ("train", "measure first") and len(recs[0].why) == 3
        assert recs[0].evidence.endswith("model xlmr-large")  # the answer names whose runs it learned from
    # a target among the imported ones is answered by its own runs
    recs = svc.recommend("de", "pawsx", k=3, candidates="intermediate").decisions["intermediate"].recommendations
    assert (recs[0].source_task, recs[0].basis, recs[0].gain) == ("mnli", "measured", 2.5)
