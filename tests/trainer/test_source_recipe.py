"""Per-intermediate-task recipes ([source_train.<task>]) and CoLA's metric (Matthews correlation)."""

from __future__ import annotations

from pathlib import Path

import pytest

from feature_store.errors import InvalidRequest
from trainer.cell.run import config_hash
from trainer.config import load_matrix
from trainer.data import metrics
from trainer.data.tasks import known_task
from trainer.matrix.graph import build_graph
from trainer.matrix.run import expand

MATRIX = """data = "/data/tasks"
models = ["/models/me5-small"]
source_tasks = ["none", "cola", "sst2"]
target_tasks = ["udpos", "sib200"]
languages = ["yor", "tur"]
seeds = [1]
[train]
learning_rate = 1e-4
"""


def _matrix(folder: Path, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "matrix.toml"
    path.write_text(MATRIX + extra)
    return path


def test_a_source_recipe_changes_that_phase1_only_and_every_run_keeps_its_baseline(tmp_path: Path) -> None:
    before = {(j.phase, j.source_task, j.target_task): j.id for j in build_graph(load_matrix(_matrix(tmp_path / "a")))}
    tuned = load_matrix(_matrix(tmp_path / "b", "[source_train.cola]\nepochs = 6\nmax_train_samples = 4000\n"))
    after = {(j.phase, j.source_task, j.target_task): j.id for j in build_graph(tuned)}
    # CoLA's encoder is another one; SST-2's stays; every phase-2 job (baselines too) carries the table
    assert before[(1, "cola", None)] != after[(1, "cola", None)]
    assert before[(1, "sst2", None)] == after[(1, "sst2", None)]
    assert all(before[k] != after[k] for k in before if k[0] == 2)
    cells = expand(tuned)
    cola = next(c for c in cells if c.source_task == "cola" and c.target_task == "udpos")
    sst2 = next(c for c in cells if c.source_task == "sst2" and c.target_task == "udpos")
    base = next(c for c in cells if c.source_task == "none" and c.target_task == "udpos")
    # phase 1 trains with the recipe, phase 2 with [train]
    assert cola.phase1_config().train.epochs == 6 and cola.phase1_config().train.max_train_samples == 4000
    assert cola.train.epochs is None and sst2.phase1_config().train == tuned.train
    assert config_hash(base) == config_hash(cola) == config_hash(sst2)  # runs still find their baseline


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[source_train.rte]\nepochs = 4\n", "'rte' is not one of the intermediate tasks"),
        ("[source_train.cola]\nepoch = 4\n", "unknown key 'epoch'"),
        ("[source_train.cola]\neval_cap = 'all'\n", "eval_cap = 'all'"),
    ],
)
def test_a_bad_source_recipe_is_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        load_matrix(_matrix(tmp_path, text))


def test_cola_is_scored_by_matthews_correlation_whose_chance_is_zero() -> None:
    assert known_task("cola").metric == "mcc"  # type: ignore[union-attr]
    assert metrics.mcc([1, 1, 0, 0], [1, 1, 0, 0]) == pytest.approx(100.0)
    assert metrics.mcc([0, 0, 1, 1], [1, 1, 0, 0]) == pytest.approx(-100.0)
    assert metrics.mcc([1, 1, 1, 1], [1, 0, 1, 1]) == 0.0  # the majority class: high accuracy, no correlation
    assert metrics.mcc([1, 0, 1, 0], [1, 1, 0, 0]) == pytest.approx(0.0)
    assert metrics.chance_score("classification", "mcc", [1, 1, 1, 0]) == 0.0
