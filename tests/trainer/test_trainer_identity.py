"""Run identity: model content, training configuration and evaluated split are part of every run."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from feature_store.runs.run import Run
from feature_store.runs.store import RunStore
from trainer.cell.identity import model_hash
from trainer.cell.run import run_cell
from trainer.config import CellConfig, TrainConfig


def test_old_runs_keep_their_keys_and_identity_joins_the_key() -> None:
    old = Run("xnli", "swa", "mnli", "eng", 70.0, dataset="d", model="m", seed=1)
    assert json.loads(old.key) == ["d", "m", "xnli", "swa", "mnli", "eng", None, 1]
    a = dataclasses.replace(old, model_hash="aa", config_hash="c1", split="test")
    assert (
        len(
            {
                old.key,
                a.key,
                dataclasses.replace(a, config_hash="c2").key,
                dataclasses.replace(a, split="dev").key,
                dataclasses.replace(a, model_hash="bb").key,
            }
        )
        == 5
    )
    assert dataclasses.replace(a, flags="near_chance:phase2").key == a.key  # a warning is not an identity


def test_a_store_made_before_the_identity_columns_still_opens(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE runs (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, dataset TEXT NOT NULL,"
        " model TEXT NOT NULL, target_task TEXT NOT NULL, target_language TEXT NOT NULL, source_task TEXT NOT NULL,"
        " source_language TEXT NOT NULL, source_size REAL, score REAL NOT NULL, metric TEXT NOT NULL,"
        " baseline_score REAL, seed INTEGER);"
        "INSERT INTO runs VALUES (1, 'k', 'd', 'm', 'xnli', 'swa', 'mnli', 'eng', NULL, 70.0, 'accuracy', NULL, 1);"
    )
    conn.commit()
    conn.close()
    with RunStore(path) as store:
        (run,) = store.query()
        assert (run.score, run.model_hash, run.config_hash, run.split) == (70.0, "", "", "")
        store.insert([dataclasses.replace(run, model_hash="aa", split="test")])
        assert store.count() == 2


def test_model_hash_is_content_not_folder_name(model_dir: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "model", tmp_path / "b" / "model"
    shutil.copytree(model_dir, a)
    shutil.copytree(model_dir, b)
    assert model_hash(a) == model_hash(b) == model_hash(model_dir)
    (b / "config.json").write_text((b / "config.json").read_text().replace('"hidden_act"', ' "hidden_act"'))
    assert model_hash(b) != model_hash(a)


def test_two_models_in_folders_of_one_name_both_keep_their_runs(
    model_dir: Path, data_dir: Path, tmp_path: Path, tiny_train: TrainConfig
) -> None:
    folders = [tmp_path / "first" / "model", tmp_path / "second" / "model"]
    for k, folder in enumerate(folders):
        shutil.copytree(model_dir, folder)
        (folder / "config.json").write_text(json.dumps({**json.loads((folder / "config.json").read_text()), "k": k}))
    with RunStore() as store:
        for folder in folders:
            cfg = CellConfig(
                model=folder,
                data=data_dir,
                target_task="sentiment",
                languages=["swa"],
                out=tmp_path / "out",
                train=tiny_train,
            )
            run_cell(cfg, store)
        runs = store.query(target_task="sentiment")
    assert len(runs) == 2 and runs[0].model == runs[1].model == "model" and runs[0].model_hash != runs[1].model_hash
    assert len(list((tmp_path / "out").glob("model.*"))) == 2  # artefacts apart too


def test_changed_hyperparameters_are_not_skipped_by_resume(
    model_dir: Path, data_dir: Path, tmp_path: Path, tiny_train: TrainConfig
) -> None:
    cfg = CellConfig(
        model=model_dir,
        data=data_dir,
        target_task="sentiment",
        languages=["swa"],
        out=tmp_path,
        train=tiny_train,
        resume=True,
    )
    with RunStore() as store:
        run_cell(cfg, store)
        assert run_cell(cfg, store).skipped
        changed = dataclasses.replace(cfg, train=dataclasses.replace(tiny_train, learning_rate=5e-4))
        assert not run_cell(changed, store).skipped
        runs = store.query(target_task="sentiment")
    assert len(runs) == 2 and runs[0].config_hash != runs[1].config_hash
    assert {r.split for r in runs} == {"dev"}  # sentiment has no swa test file: its dev split was scored


def test_phase1_data_is_identified_by_content_and_phase2_follows_a_retrained_phase1(
    model_dir: Path, data_dir: Path, tmp_path: Path, tiny_train: TrainConfig
) -> None:
    data = tmp_path / "data"
    shutil.copytree(data_dir, data)
    train = dataclasses.replace(tiny_train, keep_models=True)
    cfg = CellConfig(
        model=model_dir,
        data=data,
        target_task="xnli",
        languages=["swa"],
        source_task="sst2",
        out=tmp_path / "out",
        train=train,
        resume=True,
    )
    run_cell(cfg)
    reused = json.loads(run_cell(cfg).artefact.read_text())["phases"]  # type: ignore[union-attr]
    assert "reused" in reused["phase1"] and reused["phase2"] == {"reused": True}
    sst2 = data / "sst2" / "train-eng.jsonl"
    rows = [json.loads(line) for line in sst2.read_text().splitlines()]
    sst2.write_text("".join(json.dumps({**r, "text": r["text"] + " red"}) + "\n" for r in rows))  # same line count
    phases = json.loads(run_cell(cfg).artefact.read_text())["phases"]  # type: ignore[union-attr]
    assert phases["phase1"]["steps"] == 2 and phases["phase2"]["steps"] == 2  # both trained again


@pytest.mark.parametrize("world", ["1", "8"])
def test_world_size_enters_the_config_hash(
    world: str, monkeypatch: pytest.MonkeyPatch, tiny_train: TrainConfig, model_dir: Path, data_dir: Path
) -> None:
    from trainer.cell.run import config_hash

    cfg = CellConfig(model=model_dir, data=data_dir, target_task="xnli", languages=["swa"], train=tiny_train)
    base = config_hash(cfg)
    monkeypatch.setenv("WORLD_SIZE", world)
    assert (config_hash(cfg) == base) == (world == "1")
