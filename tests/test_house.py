"""The recommender's house: answers that cannot drift from the registry, processes that share one
truth, a lean command line, and a ranker that finds a known truth."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from feature_store.features import FeatureBuilder, Source
from feature_store.runs.run import Run
from feature_store.tasks import Task, registry
from recommender import service as service_module
from recommender.service import Service


def _answers(svc: Service) -> list[list[tuple[str, str, float | None]]]:
    out = []
    for lang, task, kind in (("yo", "udpos", "language"), ("sw", "xnli", "language"), ("te", "tydiqa", "all")):
        answer = svc.recommend(lang, task, k=5, candidates=kind)
        out.append([(r.source_task, r.source_language, r.gain)
                    for d in answer.decisions.values() for r in d.recommendations])
    return out


def test_reordering_or_extending_the_task_registry_changes_no_answer(trained: Path) -> None:
    before = _answers(Service())
    reg = registry()
    saved_tasks, saved_alias = reg.tasks, reg._alias
    new = Task(id="aaa_new", name="A new task", kind="target", format="tagging", level="syntactic", metric="f1")
    try:  # a task added at the top, every other task in reverse order
        reg.tasks = {"aaa_new": new, **dict(reversed(list(saved_tasks.items())))}
        reg._alias = {**saved_alias, "aaa_new": "aaa_new"}
        after = _answers(Service())
    finally:
        reg.tasks, reg._alias = saved_tasks, saved_alias
    assert after == before


def test_a_second_process_activation_is_followed_within_a_second(trained: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    server = Service()
    first = server.live().version
    other = Service()  # the CLI's `retrain` while a server runs, or another server worker
    second = other.retrain(n_estimators=10)["version"]
    assert second != first and other.registry.current() == second
    deadline = time.monotonic() + service_module.FOLLOW_SECONDS + 0.5
    while server.live().version != second and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.live().version == second
    assert server.health()["model_version"] == second
    assert server.recommend("sw", "xnli").model_version == second
    other.activate(first)  # a rollback is followed too
    time.sleep(service_module.FOLLOW_SECONDS + 0.05)
    assert server.cache_token() == first


LEAN_PROBE = """
import sys
# As in the service install (`make run`), where neither is installed: LightGBM imports each when present
# (scikit-learn comes with the dev tools, pandas with the trainer's `datasets`).
sys.modules["sklearn"] = sys.modules["pandas"] = None
from stepstone.cli import app
try:
    app(["recommend", "-l", "sw", "-t", "xnli", "--format", "json"])
except SystemExit as exc:
    assert not exc.code, exc.code
heavy = ("torch", "transformers", "pandas", "sklearn", "scipy.stats", "matplotlib")
print("heavy:" + ",".join(m for m in heavy if sys.modules.get(m) is not None))
"""


def test_recommend_loads_no_heavy_module(trained: Path) -> None:
    out = subprocess.run([sys.executable, "-c", LEAN_PROBE], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "heavy:"


def _synthetic_runs(distance: str = "syntactic", seed: int = 0) -> list[Run]:
    """UD-POS-like runs whose score falls with the source–target typological distance (plus noise)."""
    sources = ["deu", "nld", "fra", "spa", "rus", "pol", "fin", "hun", "tur", "jpn", "kor", "hin", "ara", "heb",
               "ind", "vie"]
    targets = ["swe", "dan", "ita", "por", "ces", "ukr", "est", "kaz", "uzb", "mar", "ben", "amh", "tgl", "tha",
               "zho", "eus", "cat", "slk", "bul", "urd"]
    builder = FeatureBuilder()
    col = ["syntactic", "phonological", "inventory", "featural", "genetic", "geographic"].index(distance)
    rng = np.random.default_rng(seed)
    runs = []
    for t in targets:
        dist = builder.languages.distance_matrix([t], sources)[0, :, col]
        base = 60.0 + rng.normal(0, 3)
        for s, d in zip(sources, dist, strict=True):
            score = base + 30.0 * (1.0 - d) + rng.normal(0, 0.5)
            runs.append(Run("udpos", t, "udpos", s, round(float(score), 3), dataset="synthetic", model="m",
                            metric="accuracy"))
    return runs


def test_the_ranker_finds_a_distance_driven_truth() -> None:
    """Gain driven by syntactic distance: the ranker is as good as the matching rule, far better than random."""
    from recommender.evaluation.crossval import evaluate_runs

    result = evaluate_runs(_synthetic_runs(), split="lolo", n_jobs=1, params={"n_estimators": 40})
    (setting,) = result["settings"]
    ranker, rule = setting["ranker"], setting["baselines"]["nearest_syntactic"]
    random = setting["baselines"]["random"]
    assert ranker["ndcg@3"] >= rule["ndcg@3"] - 0.05
    assert ranker["top1_loss_pct"] <= rule["top1_loss_pct"] + 0.5
    assert ranker["ndcg@3"] >= random["ndcg@3"] + 0.3
    assert ranker["top1_loss_pct"] < random["top1_loss_pct"] / 3


def test_nearest_rule_order_is_the_distance_order() -> None:
    """Where the data define an order (score = −distance), the answer keeps it exactly."""
    from recommender.evaluation import baselines
    from recommender.model.dataset import group_queries

    runs = [r for r in _synthetic_runs() if r.target_language == "swe"]
    (q,) = group_queries(runs)
    X = FeatureBuilder().build("udpos", "swe", q.sources)
    rule = baselines.nearest(X, "syntactic")
    order = [q.sources[i].language for i in np.argsort(-rule, kind="stable")]
    assert order[:3] == [q.sources[i].language for i in np.argsort(-q.scores, kind="stable")][:3]
    assert isinstance(q.sources[0], Source)
