"""The planner: its contract (budget, measured cells, spread, shapes), its errors, its config and simulation.

A tiny synthetic store (one XNLI-like setting, few trees) keeps these fast; the shipped-data
simulation lives in bench/plan.py.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from feature_store.errors import InvalidRequest, UnknownLanguage, UnknownTask
from recommender.service import Service

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
    from feature_store.runs import parse_records
    from feature_store.seed import SEED_VERSION

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
    # Candidates of swa: 3 intermediate tasks and xnli in 6 languages; measured: the baseline, mnli, deu.
    assert len(cells) == out["summary"]["open_cells"] == 6
    assert out["summary"]["measured_cells"] == 3


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


def test_everything_measured_is_said(svc: Service) -> None:
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
