"""The planner: its contract (budget, measured cells, spread, shapes), its errors, its config and simulation.

A tiny synthetic store (one XNLI-like setting, few trees) keeps these fast; the shipped-data
simulation lives in bench/plan.py.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from feature_store.errors import InvalidRequest, UnknownLanguage, UnknownTask
from feature_store.features import Source
from feature_store.tasks import registry
from recommender.planning.belief import Belief, correlation, rank_aligned
from recommender.planning.planner import Cell, LanguagePlan, choose
from recommender.service import Service
from stepstone.cli import app

TARGETS = ("swa", "yor", "deu", "hin", "fra", "rus", "ara", "tur", "vie", "tha")
INTERMEDIATE = ("mnli", "squad", "hellaswag")
LANG_SOURCES = ("eng", "deu", "fra", "rus", "ara", "hin")
PARAMS = {"n_estimators": 8, "inner_estimators": 4, "num_leaves": 4}
runner = CliRunner()


def synthetic_rows() -> list[dict[str, object]]:
    """XNLI-like runs: per target a baseline, three intermediate tasks and five other-language sources.

    ``swa`` is only partly measured (baseline, mnli, deu); ``wol`` and ``zul`` not at all.
    """
    rows: list[dict[str, object]] = []
    rng = np.random.default_rng(0)
    for i, lang in enumerate(TARGETS):
        base = 60.0 + 2 * i
        sources = [(s, "eng") for s in INTERMEDIATE] + [("xnli", s) for s in LANG_SOURCES if s != lang]
        if lang == "swa":
            sources = [("xnli", "eng"), ("mnli", "eng"), ("xnli", "deu")]
        for j, (task, src_lang) in enumerate(sources):
            score = base if (task, src_lang) == ("xnli", "eng") else base + 3.0 - 0.7 * j + rng.normal(0, 0.5)
            rows.append(dict(dataset="lab", model="xlmr-large", target_task="xnli", target_language=lang,
                             source_task=task, source_language=src_lang, score=round(score, 3),
                             metric="accuracy", baseline_score=base, seed=1))
    return rows


@pytest.fixture(scope="module")
def plan_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A home holding only the synthetic runs and a small model trained on them."""
    from feature_store.runs.files import parse_records
    from feature_store.runs.seed import SEED_VERSION

    home = tmp_path_factory.mktemp("plan") / "home"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STEPSTONE_HOME", str(home))
        svc = Service(seed=False)
        svc.store.set_meta("seed_version", SEED_VERSION)  # keep the shipped matrices out
        svc.store.insert(parse_records(synthetic_rows()))
        svc.retrain(**PARAMS)
        svc.store.close()
        yield home


@pytest.fixture
def svc(plan_home: Path, monkeypatch: pytest.MonkeyPatch) -> Service:
    monkeypatch.setenv("STEPSTONE_HOME", str(plan_home))
    return Service()


def measured_keys(service: Service, language: str) -> set[tuple[str, str]]:
    return {(r.source_task, r.source_language) for r in service.store.query(target_language=language)}


# -- the contract ---------------------------------------------------------------------------------
def test_never_proposes_a_measured_cell_and_proposes_every_open_one(svc: Service) -> None:
    out = svc.plan("xnli", ["sw"], budget=100)
    measured = measured_keys(svc, "swa")
    cells = out["cells"]
    assert cells and not {(c["source_task"], c["source_language"]) for c in cells} & measured
    # Candidates of swa: the 3 intermediate tasks of the runs, and xnli in every language with training
    # data (5 as sources of the runs, plus the registry's translate-train languages); English is the
    # baseline of both decisions and swa the target, never candidates. Measured among them: mnli, deu.
    languages = (set(LANG_SOURCES) | set(registry().get("xnli").train_languages)) - {"eng", "swa"}
    candidates = {(t, "eng") for t in INTERMEDIATE} | {("xnli", lang) for lang in languages}
    assert {(c["source_task"], c["source_language"]) for c in cells} == candidates - measured
    assert len(cells) == out["summary"]["open_cells"] == len(candidates) - 2
    assert out["summary"]["measured_cells"] == 2


def test_budget_is_respected_and_values_fall(svc: Service) -> None:
    out = svc.plan("xnli", ["sw", "wol", "zu"], budget=4)
    assert [c["rank"] for c in out["cells"]] == [1, 2, 3, 4]
    values = [c["batch_value"] for c in out["cells"]]
    assert values == sorted(values, reverse=True)
    assert all(c["expected_improvement"] >= 0 and 0 <= c["p_better"] <= 1 for c in out["cells"])


def test_gpu_hours_budget_and_shared_trainings(svc: Service) -> None:
    out = svc.plan("xnli", ["wol", "zu"], gpu_hours=0.5)
    cells = out["cells"]
    assert cells and out["summary"]["gpu_hours"] <= 0.5
    assert math.isclose(sum(c["marginal_gpu_hours"] for c in cells), out["summary"]["gpu_hours"], abs_tol=1e-3)
    seen: set[tuple[str, str]] = set()
    for c in cells:
        key = (c["source_task"], c["source_language"])
        assert (c["marginal_gpu_hours"] == 0.0) == (key in seen)  # a second language of a source is free
        seen.add(key)


def test_a_batch_spreads_over_languages_when_that_is_worth_more(svc: Service) -> None:
    out = svc.plan("xnli", ["wol", "zu"], budget=2, candidates="language")
    assert {c["target_language"] for c in out["cells"]} == {"wol", "zul"}


def test_everything_measured_is_said(plan_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from feature_store.runs.files import parse_records
    from tests.helpers import clone_home

    monkeypatch.setenv("STEPSTONE_HOME", str(clone_home(plan_home, tmp_path / "home")))
    svc = Service()
    assert svc.plan("xnli", ["deu"], budget=3, candidates="language")["cells"]  # translate-train languages open
    # measure German with every language that has XNLI training data
    rows = [dict(dataset="lab", model="xlmr-large", target_task="xnli", target_language="deu", source_task="xnli",
                 source_language=lang, score=60.0, metric="accuracy", baseline_score=64.0, seed=1)
            for lang in registry().get("xnli").train_languages
            if lang != "deu" and ("xnli", lang) not in measured_keys(svc, "deu")]
    svc.store.insert(parse_records(rows))
    out = svc.plan("xnli", ["deu"], budget=3, candidates="language")
    assert out["cells"] == [] and any("every candidate cell" in w for w in out["warnings"])


def test_the_model_filter_makes_cells_of_another_model_open(svc: Service) -> None:
    out = svc.plan("xnli", ["deu"], budget=3, candidates="language", model="mt5-large")
    assert len(out["cells"]) == 3 and out["query"]["model"] == "mt5-large"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"budget": 0}, "budget must be an integer from 1 to 100, got 0"),
    ({"budget": 3, "gpu_hours": 1.0}, "give exactly one of budget (cells) and gpu_hours"),
    ({}, "give exactly one of budget (cells) and gpu_hours"),
    ({"gpu_hours": -1.0}, "gpu_hours must be a positive number, got -1.0"),
    ({"budget": 3, "tokens_per_second": 0.0}, "tokens per second must be a positive number, got 0.0"),
    ({"budget": 3, "candidates": "some"}, "candidates must be one of"),
])
def test_bad_requests_name_the_bad_value(svc: Service, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message.replace("(", r"\(").replace(")", r"\)")):
        svc.plan("xnli", ["sw"], **kwargs)


def test_unknown_language_and_task(svc: Service) -> None:
    with pytest.raises(UnknownLanguage):
        svc.plan("xnli", ["Swahilli"], budget=2)
    with pytest.raises(UnknownTask):
        svc.plan("xnil", ["sw"], budget=2)
    with pytest.raises(InvalidRequest, match="one or more target languages"):
        svc.plan("xnli", [], budget=2)


# -- the belief and the greedy choice -------------------------------------------------------------
def test_expected_improvement_matches_monte_carlo_and_conditioning_moves_neighbours() -> None:
    corr = correlation(np.array([[0.0, 0.1, 0.9], [0.1, 0.0, 0.9], [0.9, 0.9, 0.0]]), np.ones((3, 3), bool))
    belief = Belief(np.array([2.0, 1.0, 0.0]), np.array([1.0, 2.0, 3.0]), corr)
    draws = belief.samples(200_000, seed=1)
    mc = np.maximum(draws - 1.5, 0.0).mean(axis=0)
    assert np.allclose(belief.expected_improvement(1.5), mc, atol=0.02)
    assert np.allclose(belief.probability_better(1.5), (draws > 1.5).mean(axis=0), atol=0.01)
    before = belief.mean.copy()
    belief.observe(0, -1.0)  # far below its prediction: the close cell 1 drops more than the far cell 2
    assert belief.mean[0] == -1.0 and belief.std()[0] == 0.0 and belief.expected_improvement(0.0)[0] == 0.0
    assert before[1] - belief.mean[1] > before[2] - belief.mean[2] > 0


def test_rank_aligned_keeps_the_ranker_order_and_the_gain_scale() -> None:
    out = rank_aligned(np.array([0.1, 0.9, 0.5]), np.array([5.0, 1.0, 1.0]))
    assert np.argsort(-out).tolist() == [1, 2, 0]
    assert np.allclose(np.sort(out), [1.0, 1.0, 5.0], atol=1e-5)


def _plan(language: str, means: list[float], measured: dict[int, float] | None = None) -> LanguagePlan:
    n = len(means)
    cells = [Cell(Source("xnli", f"l{i}"), "language", "model", m, m - 2, m + 2, []) for i, m in enumerate(means)]
    belief = Belief(np.array(means), np.ones(n), correlation(np.full((n, n), 0.5), np.ones((n, n), bool)))
    for i, v in (measured or {}).items():
        belief.observe(i, v)
    reference = max((measured or {0: 0.0}).values())
    return LanguagePlan(language, language, cells, belief, baseline=70.0, reference=reference)


def test_choose_skips_measured_cells_and_spreads() -> None:
    plans = [_plan("a", [3.0, 2.9, 2.8], {0: 3.5}), _plan("b", [2.95, 1.0, 0.5])]
    picks = choose(plans, budget=2)
    assert [(p["target_language"], p["source_language"]) for p in picks] == [("b", "l0"), ("a", "l1")]
    every = choose(plans, budget=10)
    assert len(every) == 5 and ("a", "l0") not in {(p["target_language"], p["source_language"]) for p in every}


# -- the edges: CLI, REST, the trainer's config ---------------------------------------------------
def test_cli_table_json_and_errors(svc: Service) -> None:
    result = runner.invoke(app, ["plan", "--task", "xnli", "--languages", "sw,wol", "--budget", "3"])
    assert result.exit_code == 0, result.output
    assert "expected improvement" in result.output and "GPU-hours" in result.output
    result = runner.invoke(app, ["plan", "--task", "xnli", "--languages", "sw,wol", "--budget", "3", "--format",
                                 "json"])
    body = json.loads(result.stdout)
    assert body == Service().plan("xnli", ["sw", "wol"], budget=3)
    assert set(body) == {"query", "criterion", "interval_level", "cells", "summary", "matrix", "warnings",
                         "model_version"}
    assert {"expected_improvement", "p_better", "gpu_hours", "marginal_gpu_hours", "why"} <= set(body["cells"][0])
    result = runner.invoke(app, ["plan", "--task", "xnli", "--languages", "sw", "--budget", "3", "--gpu-hours", "2"])
    assert result.exit_code == 1 and result.stderr.strip() == "Error: give exactly one of budget (cells) and gpu_hours"
    result = runner.invoke(app, ["plan", "--task", "xnli", "--languages", "Swahilli", "--budget", "3"])
    assert result.exit_code == 1 and "unknown language 'Swahilli'" in result.stderr


def test_rest_plans_need_no_token_and_name_bad_values(svc: Service) -> None:
    from api.app import create_app
    from api.settings import Settings

    settings = Settings(api_token="secret", log_requests=False, retrain_in_subprocess=False)
    with TestClient(create_app(Service(), settings), base_url="http://localhost") as client:
        r = client.post("/v1/plans", json={"task": "xnli", "languages": ["sw", "wol"], "budget": 2})
        assert r.status_code == 200, r.text
        assert r.json()["summary"]["cells"] == 2 and len(r.json()["cells"]) == 2
        r = client.post("/v1/plans", json={"task": "xnli", "languages": ["sw"], "budget": 0})
        assert r.status_code == 422 and r.json()["detail"] == "budget must be an integer from 1 to 100, got 0"
        r = client.post("/v1/plans", json={"task": "xnli", "languages": ["Swahilli"], "budget": 2})
        assert r.status_code == 404 and r.json()["value"] == "Swahilli"
        r = client.post("/v1/plans", json={"task": "xnil", "languages": ["sw"], "budget": 2})
        assert r.status_code == 404 and "xnil" in r.json()["detail"]
        r = client.post("/v1/plans", json={"task": "xnli", "languages": ["sw"], "gpu_hours": 1, "color": "red"})
        assert r.status_code == 422


def test_out_writes_a_matrix_config_the_trainer_loads(svc: Service, tmp_path: Path) -> None:
    from trainer.config import load_matrix

    out = tmp_path / "plan.toml"
    result = runner.invoke(app, ["plan", "--task", "xnli", "--languages", "sw,wol", "--budget", "6", "--out",
                                 str(out), "--format", "json"])
    assert result.exit_code == 0, result.output
    cells = json.loads(result.stdout)["cells"]
    files = sorted(tmp_path.glob("plan*.toml"))
    assert out in files and len(files) == len({c["kind"] for c in cells})
    planned = {(c["source_task"] if c["kind"] == "intermediate" else "xnli", c["source_language"],
                c["target_language"]) for c in cells}
    grid: set[tuple[str, str, str]] = set()
    for path in files:
        spec = load_matrix(path)
        assert spec.target_tasks == ["xnli"] and spec.models[0].name == "xlm-roberta-large"
        grid |= {(s, sl, lang) for s in spec.source_tasks for sl in spec.source_languages
                 for lang in spec.languages_for("xnli")}
        raw = tomllib.loads(path.read_text())
        assert set(raw) <= {"data", "models", "out", "dataset", "source_tasks", "source_languages", "target_tasks",
                            "languages", "seeds"}
    assert planned <= grid


def test_the_trainers_plan_command_accepts_the_config(svc: Service, tmp_path: Path) -> None:
    graph = pytest.importorskip("trainer.matrix.graph", reason="the trainer's job graph (issue 13) is not merged here")
    from trainer.config import load_matrix

    out = tmp_path / "plan.toml"
    assert runner.invoke(app, ["plan", "--task", "xnli", "--languages", "wol", "--budget", "3", "--candidates",
                               "intermediate", "--out", str(out)]).exit_code == 0
    jobs = graph.build_graph(load_matrix(out))
    assert {j.phase for j in jobs} == {1, 2} and all(j.evaluates.get("xnli") == ["wol"] for j in jobs if j.phase == 2)
    from trainer.cli import app as train_app

    if "plan" in {c.name or getattr(c.callback, "__name__", "") for c in train_app.registered_commands}:
        result = runner.invoke(app, ["train", "plan", "--config", str(out), "--format", "json"])
        assert result.exit_code == 0, result.output
        assert len(json.loads(result.stdout)["jobs"]) == len(jobs)


# -- the simulation -------------------------------------------------------------------------------
def test_simulation_shape_and_its_invariants(plan_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from feature_store.runs.files import parse_records
    from recommender.evaluation.metrics import expected_topk_max
    from recommender.planning.simulate import misses, simulate_runs

    monkeypatch.setenv("STEPSTONE_HOME", str(plan_home))
    rows = [r for r in synthetic_rows() if r["target_language"] != "swa"]
    result = simulate_runs(parse_records(rows), n_max=4, n_jobs=1, params=PARAMS)
    (s,) = result["settings"]
    assert s["n"] == [0, 1, 2, 3, 4] and s["queries"] == len(TARGETS) - 1
    for name in ("planner", "random", "best_on_average"):
        curve = s[name]
        assert curve[0] == curve[1] and all(a >= b - 1e-9 for a, b in zip(curve, curve[1:], strict=False))
    assert isinstance(misses(result), list)
    rng = np.random.default_rng(0)  # the random curve is the exact mean over orders
    y = np.array([3.0, 1.0, 2.0, 5.0])
    sampled = np.mean([y[rng.permutation(4)[:2]].max() for _ in range(20_000)])
    assert abs(expected_topk_max(y, np.zeros(4), 2) - sampled) < 0.02
