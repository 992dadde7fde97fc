"""The answer contract on the shipped store: measured cells first, usable sources only, one order,
advice that follows, arrows with their sign; and one answer from the CLI, REST, explain and report."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from recommender.evaluation.contract import check_store, facts_of, violations
from recommender.service import Service

QUERIES = [("yo", "udpos"), ("te", "tydiqa"), ("sw", "xnli"), ("ja", "pawsx"), ("ha", "masakhaner"),
           ("yo", "wikiann")]


def test_two_hundred_sampled_queries_keep_the_contract(trained: Path) -> None:
    svc = Service()
    out = check_store(svc, limit=120) | {"more": check_store(svc, limit=90, every_language=True)}
    assert out["queries"] + out["more"]["queries"] >= 200
    assert out["violations"] == {} and out["more"]["violations"] == {}, (out["examples"], out["more"]["examples"])
    assert out["measured_items"] > 0 and out["train_advice"] > 0  # the checks had something to check


def test_measured_cells_are_answered_as_measured(trained: Path) -> None:
    d = Service().recommend("yo", "udpos", k=4, candidates="language").decisions["language"]
    shown = {(it.source_language, it.basis, it.gain) for it in d.recommendations}
    assert ("isl", "measured", 15.872) in shown and ("cym", "measured", 15.394) in shown  # de Vries et al.
    first = d.recommendations[0]
    assert first.measured is not None and first.measured.runs == 1 and "σ =" in first.measured.interval_rule
    assert first.gain_low is not None and first.gain_high is not None and first.gain_low < first.gain < first.gain_high
    assert d.advice == "train" and d.advice_sources == ["Icelandic (isl)"]
    te = Service().recommend("te", "tydiqa", k=10, candidates="language").decisions["language"]
    fin = next(it for it in te.recommendations if it.source_language == "fin")
    assert fin.basis == "measured" and abs(fin.gain - 18.8) < 0.1  # no longer predicted at +4.15


def test_no_source_without_training_data_and_no_unnamed_item(trained: Path) -> None:
    svc = Service()
    ja = svc.recommend("ja", "pawsx", k=50).as_dict()["decisions"]
    assert {it["source_language"] for it in ja["language"]["recommendations"]} <= {"deu", "spa", "fra", "kor", "zho"}
    ha = svc.recommend("ha", "masakhaner", k=50).as_dict()["decisions"]
    langs = {it["source_language"] for it in ha["language"]["recommendations"]}
    assert langs and "hye" not in langs and "fas" not in langs and langs <= {
        "bam", "bbj", "ewe", "fon", "ibo", "kin", "lug", "luo", "mos", "nya", "pcm", "sna", "swa", "tsn", "twi",
        "wol", "xho", "yor", "zul"}
    names = {it["source_task"] for it in ha["intermediate"]["recommendations"]}
    assert {"squad", "mnli", "hellaswag"} <= names and not any("best" in n for n in names)


def test_one_shape_for_every_candidates_value(trained: Path) -> None:
    svc = Service()
    shapes = {c: svc.recommend("sw", "xnli", candidates=c).as_dict() for c in ("all", "intermediate", "language")}
    assert {tuple(sorted(a)) for a in shapes.values()} == {tuple(sorted(shapes["all"]))}
    assert all(set(a["decisions"]) == {"intermediate", "language"} for a in shapes.values())
    assert shapes["intermediate"]["decisions"]["language"]["recommendations"] == []
    assert shapes["language"]["decisions"]["intermediate"]["recommendations"] == []


def test_cli_rest_explain_and_report_give_the_same_answer(trained: Path) -> None:
    from api.app import create_app
    from recommender.cli import app

    svc = Service()
    runner = CliRunner()
    with TestClient(create_app(svc)) as client:
        for language, task in QUERIES[:4]:
            mine = svc.recommend(language, task, k=5).as_dict()
            cli = runner.invoke(app, ["recommend", "-l", language, "-t", task, "--k", "5", "--format", "json"])
            assert cli.exit_code == 0, cli.output
            assert json.loads(cli.output) == mine
            rest = client.get("/v1/recommendations", params={"language": language, "task": task, "k": 5})
            assert rest.status_code == 200 and rest.json() == mine
            for kind, d in mine["decisions"].items():
                for it in d["recommendations"][:2]:
                    name = it["source_task"] if kind == "intermediate" else it["source_language"]
                    ex = svc.explain(language, task, name)
                    assert (ex["rank"], ex["gain"], ex["why"], ex["basis"]) == \
                        (it["rank"], it["gain"], it["why"], it["basis"]), (language, task, name)
    report = svc.report("udpos", ["yo", "wo"], k=5)
    for lang in report.languages:
        assert lang.decisions == svc.recommend(lang.code, "udpos", k=5).as_dict()["decisions"]


def test_json_errors_carry_a_stable_code(trained: Path) -> None:
    from recommender.cli import app

    out = CliRunner().invoke(app, ["recommend", "-l", "Swahilli", "-t", "xnli", "--format", "json"])
    assert out.exit_code == 1
    err = json.loads(out.stdout)["error"]
    assert err["code"] == "unknown_language" and "swa (Swahili)" in err["suggestions"]


def test_an_arrow_never_contradicts_its_words(trained: Path) -> None:
    svc = Service()
    facts = facts_of(svc.store.query(), svc.measured_cells())
    for language in ("ar", "yo", "eu", "vi", "kk"):
        answer = svc.recommend(language, "xnli", k=50)
        assert not [v for v in violations(answer, facts) if v.startswith(("arrow", "reason"))]
