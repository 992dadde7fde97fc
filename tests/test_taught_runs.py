"""What a model is taught: every score in points by its own scale, and no gain without a measured baseline."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from feature_store.errors import InvalidRun
from feature_store.runs.files import parse_csv_text
from feature_store.runs.store import RunStore
from recommender.model.dataset import group_queries

HEADER = "dataset,model,target_task,target_language,source_task,source_language,source_size,score,metric," \
         "baseline_score,seed,model_hash,config_hash,split,flags\n"


def _trainer_rows(baseline_flags: str, baseline_scores: bool = True) -> str:
    """Trainer-style runs of one query (xnli → swa): an English baseline and three intermediate tasks."""
    base = "34.0" if baseline_scores else ""
    rows = [f"lab,m,xnli,swa,xnli,eng,,34.0,accuracy,34.0,1,h1,c1,test,{baseline_flags}"] if baseline_flags != "-" \
        else []
    for task, score in (("mnli", 55.0), ("squad", 50.0), ("cola", 40.0)):
        rows.append(f"lab,m,xnli,swa,{task},eng,500,{score},accuracy,{base},1,h1,c1,test,")
    return HEADER + "\n".join(rows) + "\n"


def _store(tmp_path: Path, text: str) -> RunStore:
    store = RunStore(tmp_path / "runs.sqlite")
    store.insert(parse_csv_text(text, "runs.csv"))
    return store


def test_a_run_on_0_1_among_0_100_runs_is_taught_in_points() -> None:
    text = ("dataset,model,target_task,target_language,source_task,source_language,score,metric\n"
            "d,m,tydiqa,swa,tydiqa,eng,70.0,f1_score_0-100\n"
            "d,m,tydiqa,swa,tydiqa,fin,60.0,f1_score_0-100\n"
            "d,m,tydiqa,swa,tydiqa,deu,0.62,f1_score_0-1\n")
    (query,) = group_queries(parse_csv_text(text))
    gains = dict(zip([s.language for s in query.sources], query.gains, strict=True))
    assert gains["deu"] == pytest.approx(-8.0) and gains["fin"] == pytest.approx(-10.0)


def test_a_baseline_that_ended_near_chance_is_no_baseline(tmp_path: Path) -> None:
    (flagged,) = group_queries(parse_csv_text(_trainer_rows("near_chance:phase2")))
    assert flagged.baseline is None and all(math.isnan(g) for g in flagged.gains)
    (clean,) = group_queries(parse_csv_text(_trainer_rows("")))
    assert clean.baseline == 34.0 and list(clean.gains) == [6.0, 21.0, 16.0, 0.0]  # cola, mnli, squad, xnli


@pytest.mark.parametrize(("rows", "candidates"), [
    (_trainer_rows(""), {"mnli", "squad", "cola"}),
    (_trainer_rows("near_chance:phase2"), set()),  # the baseline failed: no gain was measured
    (_trainer_rows("-", baseline_scores=False), set()),  # no baseline anywhere
    (_trainer_rows("-", baseline_scores=True), {"mnli", "squad", "cola"}),  # baseline_score given
])
def test_only_sources_with_a_measured_gain_are_candidates(tmp_path: Path, rows: str, candidates: set[str]) -> None:
    store = _store(tmp_path, rows)
    taught = {source for _, source, _, _, _ in store.taught_source_counts() if source != "xnli"}
    assert taught == candidates


def test_a_row_with_another_metric_is_refused_at_import(tmp_path: Path) -> None:
    store = _store(tmp_path, "dataset,model,target_task,target_language,source_task,source_language,score,metric\n"
                             "d,m,xnli,swa,xnli,eng,0.70,f1_score_0-1\nd,m,xnli,swa,xnli,fra,0.61,f1_score_0-1\n")
    bad = parse_csv_text("dataset,model,target_task,target_language,source_task,source_language,score,metric\n"
                         "d,m,xnli,swa,xnli,deu,73.0,accuracy_pct\n", "typo.csv")
    with pytest.raises(InvalidRun, match="mixes metrics: dataset 'd' measures xnli with 'f1_score_0-1'"):
        store.insert(bad)
    assert store.count() == 2
    # the same metric on the other scale is the same measurement
    store.insert(parse_csv_text("dataset,model,target_task,target_language,source_task,source_language,score,"
                                "metric\nd,m,xnli,swa,xnli,deu,62.0,f1_score_0-100\n"))
    assert store.count() == 3
    assert len(group_queries(store.iter(), scales=store.scales())) == 1  # and a retrain still learns from it


@pytest.mark.parametrize("replace", [False, True])
def test_a_flag_given_on_re_import_is_kept(tmp_path: Path, replace: bool) -> None:
    plain = "target_task,target_language,source_task,source_language,score,dataset\nxnli,swa,mnli,eng,0.8,c2\n"
    store = _store(tmp_path, plain)
    flagged = plain.replace("dataset\n", "dataset,flags\n").replace("c2\n", "c2,near_chance\n")
    result = store.insert(parse_csv_text(flagged), replace=replace)
    assert (result.inserted, result.duplicates, result.flagged) == (0, 1, 1)
    assert store.query()[0].flags == "near_chance"
    store.insert(parse_csv_text(plain), replace=replace)  # a file without the flag does not clear it
    assert store.query()[0].flags == "near_chance"


@pytest.mark.parametrize("typo", ["7_5", "1_000", "_5"])
def test_an_underscore_in_a_number_is_refused(typo: str) -> None:
    with pytest.raises(InvalidRun, match="not a number"):
        parse_csv_text(f"target_task,target_language,source_task,source_language,score\nxnli,swa,mnli,eng,{typo}\n")
