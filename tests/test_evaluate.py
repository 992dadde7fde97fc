"""The evaluation harness: splits, the result's shape, the CLI (--runs, json, md)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from feature_store.paths import store_path
from feature_store.runs.run import Run
from recommender.evaluation.crossval import evaluate_runs, fold_key, folds
from recommender.evaluation.evaluate_report import write_report
from recommender.evaluation.metrics import METRICS
from recommender.model.dataset import group_queries
from stepstone.cli import app
from tests.helpers import pawsx_rows, write_csv

runner = CliRunner()
LANGS = ("deu", "fra", "spa", "ita", "rus", "hin", "swa", "yor")


def tiny_rows(tasks: tuple[str, ...] = ("xnli",), langs: tuple[str, ...] = LANGS) -> list[dict[str, object]]:
    """Every language to every language: the closer the source's index, the better (plus noise)."""
    rng = np.random.default_rng(0)
    rows: list[dict[str, object]] = []
    for task in tasks:
        for i, tgt in enumerate(langs):
            base = 60.0 + 2 * i
            for j, src in enumerate(("eng", *langs)):
                score = base + 5 - abs(i - j) + rng.normal(0, 0.5) if src != "eng" else base
                rows.append(dict(dataset="lab", model="m", target_task=task, target_language=tgt, source_task=task,
                                 source_language=src, score=round(score, 3), metric="accuracy",
                                 baseline_score=base))
    return rows


def tiny_runs(**kw: object) -> list[Run]:
    return [Run(**{k: v for k, v in r.items()}) for r in tiny_rows(**kw)]  # type: ignore[arg-type]


def test_splits_never_train_on_a_held_out_target(home: Path) -> None:
    queries = group_queries(tiny_runs(tasks=("xnli", "pawsx")))
    assert len(queries) == 16
    for split in ("lolo", "lofo", "loto"):
        parts = folds(queries, split)
        assert sorted(i for _, test in parts for i in test) == list(range(len(queries)))
        for train, test in parts:
            held = {fold_key(queries[i], split) for i in test}
            assert len(held) == 1 and not held & {fold_key(queries[i], split) for i in train}
    lolo = folds(queries, "lolo")
    assert len(lolo) == len(LANGS)  # one fold per target language, both tasks held out together
    assert all({queries[i].target_task for i in test} == {"xnli", "pawsx"} for _, test in lolo)
    assert len(folds(queries, "loto")) == 2
    lofo = folds(queries, "lofo")  # deu, fra, spa, ita, rus and hin are all Indo-European
    assert len(lofo) < len(LANGS) and max(len(test) for _, test in lofo) == 12


def test_exclude_self_drops_the_in_language_source(home: Path) -> None:
    runs = tiny_runs()
    assert all(s.language != q.target_language for q in group_queries(runs) for s in q.sources)
    assert any(s.language == q.target_language for q in group_queries(runs, exclude_self=False)
               for s in q.sources)


def test_result_shape_and_baselines(home: Path) -> None:
    result = evaluate_runs(tiny_runs(), n_jobs=1, ablations=True, params={"n_estimators": 10,
                                                                         "inner_estimators": 5})
    assert result["split"] == "lolo" and result["exclude_self"] is True
    (setting,) = result["settings"]
    assert {"dataset", "model", "target_task", "queries", "ranker", "baselines", "ablations"} <= set(setting)
    assert setting["queries"] == len(LANGS)
    assert set(METRICS) <= set(setting["ranker"])
    assert set(setting["baselines"]) == {"random", "english", "best_on_average", "oracle", "nearest_syntactic",
                                         "nearest_phonological", "nearest_inventory", "nearest_featural",
                                         "nearest_genetic", "nearest_geographic"}
    oracle = setting["baselines"]["oracle"]
    assert oracle["top1_loss_pct"] == 0.0 and oracle["regret@3"] == 0.0 and oracle["ndcg@3"] == 1.0
    random = setting["baselines"]["random"]
    assert random["top1_loss_pct"] > setting["baselines"]["oracle"]["top1_loss_pct"]
    assert {"linguistic", "task", "resource", "all"} <= set(setting["ablations"])
    low = setting["ablations"]["all"]["low_resource"]
    assert low["queries"] == 1  # Yoruba: not in CC-100 (Swahili has 1.6 GiB)
    json.dumps(result)  # JSON-ready: no numpy types


def test_cli_runs_files_without_touching_the_store(home: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "runs.csv", tiny_rows())
    result = runner.invoke(app, ["evaluate", "--runs", str(path), "--format", "json", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["split"] == "lolo" and data["settings"][0]["queries"] == len(LANGS)
    assert not store_path().exists()


def test_cli_md_report_writes_markdown_and_plot(home: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "runs.csv", tiny_rows())
    out = tmp_path / "report"
    result = runner.invoke(app, ["evaluate", "--runs", str(path), "--format", "md", "--out", str(out),
                                 "--split", "lofo", "--jobs", "1"])
    assert result.exit_code == 0, result.output
    md = (out / "evaluation.md").read_text()
    assert md.startswith("# Evaluation: lofo") and "best_on_average" in md and "top1_loss.png" in md
    assert (out / "top1_loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not store_path().exists()


def test_cli_bad_input_is_one_error_line(home: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", "--runs", str(tmp_path / "missing.csv")])
    assert result.exit_code == 1 and result.stderr.startswith("Error: ") and "no such file" in result.stderr
    one = write_csv(tmp_path / "one.csv", [r for r in tiny_rows() if r["target_language"] == "deu"])
    result = runner.invoke(app, ["evaluate", "--runs", str(one)])
    assert result.exit_code == 1 and "two or more held-out groups" in result.stderr


def test_report_renders_from_a_result(tmp_path: Path) -> None:
    metrics = {m: 0.5 for m in METRICS}
    result = {"split": "lolo", "exclude_self": True, "seconds": 1.0, "settings": [
        {"dataset": "d", "model": "m", "target_task": "xnli", "queries": 3, "ranker": metrics,
         "baselines": {b: metrics for b in ("best_on_average", "english", "random", "nearest_syntactic")},
         "ablations": {}}]}
    path = write_report(result, tmp_path)
    assert "| xnli (d) | 3 |" in path.read_text()
    assert (tmp_path / "top1_loss.png").stat().st_size > 1000


def test_the_intermediate_decision_is_evaluated_on_held_out_languages() -> None:
    # MNLI helps European targets, SQuAD distant ones: only a method that looks at the held-out
    # language's neighbours can pick the right one; the mean over languages cannot
    runs = [Run(**r) for r in pawsx_rows()]  # type: ignore[arg-type]
    result = evaluate_runs(runs, n_jobs=1)
    inter = result["settings"][0]["intermediate"]
    methods = inter["methods"]
    assert inter["queries"] == 24
    assert {"neighbours", "nearest_language_syntactic", "best_on_average", "random", "no_intermediate",
            "ranker"} <= set(methods)
    assert methods["neighbours"]["top1_loss_pct"] < 0.5 * methods["best_on_average"]["top1_loss_pct"]
    assert methods["neighbours"]["ndcg@3"] > methods["random"]["ndcg@3"]
    assert methods["no_intermediate"]["top1_loss_pct"] > methods["neighbours"]["top1_loss_pct"]
    from recommender.evaluation.evaluate_report import render_markdown

    md = render_markdown(result, "plot.png")
    assert "### Intermediate decision: 24 held-out queries" in md and "| neighbours |" in md


def test_runs_of_a_cell_that_ended_near_chance_teach_nothing() -> None:
    rows = tiny_rows()
    flagged = [dict(r, dataset="lab", score=99.0, flags="near_chance:phase2", seed=2) for r in rows
               if r["source_language"] == "yor"]  # a second seed that learned nothing, wildly off
    clean = group_queries(tiny_runs())
    mixed = group_queries([Run(**r) for r in rows + flagged])  # type: ignore[arg-type]
    assert [(q.target_language, q.scores.tolist()) for q in mixed] == [
        (q.target_language, q.scores.tolist()) for q in clean]
    phase1 = [dict(r, flags="near_chance:phase1:cola") for r in flagged]  # the intermediate task unlearned
    kept = group_queries([Run(**r) for r in rows + phase1])  # type: ignore[arg-type]
    assert [q.scores.tolist() for q in kept] != [q.scores.tolist() for q in mixed]
