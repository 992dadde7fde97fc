"""Cells end to end on the tiny model: every format through all of its phases, runs in the store."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from feature_store.errors import InvalidData
from feature_store.runs.store import RunStore
from trainer.cell import phases as phase_code
from trainer.cell.model import MultiTaskModel
from trainer.cell.run import run_cell
from trainer.config import CellConfig, TrainConfig


def cell(model_dir: Path, data_dir: Path, out: Path, train: TrainConfig, **kwargs: object) -> CellConfig:
    return CellConfig(model=model_dir, data=data_dir, out=out, train=train, **kwargs)  # type: ignore[arg-type]


def test_pair_cells_write_runs_with_baseline(
    model_dir: Path, data_dir: Path, tmp_path: Path, tiny_train: TrainConfig
) -> None:
    with RunStore() as store:
        base = run_cell(
            cell(model_dir, data_dir, tmp_path, tiny_train, target_task="xnli", languages=["swa", "yo"]), store
        )
        inter = run_cell(
            cell(
                model_dir,
                data_dir,
                tmp_path,
                tiny_train,
                target_task="xnli",
                languages=["sw"],
                source_task="mnli",
                intermediate_size=5,
            ),
            store,
        )
        runs = store.query(target_task="xnli")
    assert set(base.scores) == {"swa", "yor"} and all(0 <= s <= 100 for s in base.scores.values())
    assert len(runs) == 3
    (run,) = [r for r in runs if r.source_task == "mnli"]
    assert (run.source_language, run.source_size, run.seed, run.metric, run.model) == (
        "eng",
        5.0,
        1,
        "accuracy",
        "tiny-xlmr",
    )
    assert run.baseline_score == pytest.approx(base.scores["swa"], abs=1e-3)
    baseline_run = next(r for r in runs if r.source_task == "xnli" and r.target_language == "swa")
    assert baseline_run.source_language == "eng" and baseline_run.source_size is None
    artefact = json.loads(inter.artefact.read_text())  # type: ignore[union-attr]
    assert artefact["config"]["train"]["max_steps"] == 2 and artefact["source_size"] == 5
    assert artefact["phases"]["phase1"]["tasks"] == {"mnli": 5}
    assert artefact["phases"]["phase2"]["tokens_per_s"] > 0
    assert (tmp_path / inter.cell_id / "config.json").is_file()
    assert not (tmp_path / inter.cell_id / "phase2").exists()  # weights are dropped unless keep_models
    model_id = inter.cell_id.split("/")[0]  # the folder's name and the first characters of its content hash
    assert model_id.startswith("tiny-xlmr.") and run.model_hash.startswith(model_id.split(".")[1])
    assert (tmp_path / model_id / "_phase1" / "mnli.eng" / "seed1.n5" / "encoder").is_dir()  # shared


def test_multi_task_phase1_samples_both_tasks_then_tagging(
    model_dir: Path, data_dir: Path, tmp_path: Path, tiny_train: TrainConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    forward = MultiTaskModel.forward

    def spy(self: MultiTaskModel, task: int, **batch: torch.Tensor) -> dict[str, torch.Tensor]:
        seen.append(self.formats[task])
        return forward(self, task, **batch)

    monkeypatch.setattr(MultiTaskModel, "forward", spy)
    train = dataclasses.replace(tiny_train, max_steps=-1, epochs=1)  # one epoch: every batch once
    with RunStore() as store:
        result = run_cell(
            cell(
                model_dir,
                data_dir,
                tmp_path,
                train,
                target_task="udpos",
                languages=["swa"],
                source_task="hellaswag+squad",
            ),
            store,
        )
        (run,) = store.query(target_task="udpos")
    # one epoch over 8 HellaSwag examples (2 batches of 4) and 8 SQuAD questions (windows of 48 tokens)
    assert seen.count("mc") == 2 and seen.count("qa") >= 2 and len(set(seen[:4])) == 2
    assert run.source_task == "hellaswag+squad" and run.source_size == 16.0 and run.metric == "f1"
    assert 0 <= result.scores["swa"] <= 100


@pytest.mark.parametrize(
    ("target", "source", "language", "metric"),
    [
        ("xquad", "none", "swa", "f1"),  # extractive QA, XTREME layout, SQuAD JSON
        ("panx", "none", "yor", "f1"),  # BIO tagging, entity F1
        ("xcopa", "sst2", "swa", "accuracy"),  # multiple choice after a classification phase 1
        ("sentiment", "mnli", "swa", "accuracy"),  # unknown task: classification inferred, dev split
        ("tatoeba", "sst2", "swa", "accuracy"),  # retrieval: phase 1, no phase 2
        ("bucc", "none", "swa", "f1"),  # retrieval baseline: the bare encoder
    ],
)
def test_every_format_runs_its_phases(
    model_dir: Path,
    data_dir: Path,
    tmp_path: Path,
    tiny_train: TrainConfig,
    target: str,
    source: str,
    language: str,
    metric: str,
) -> None:
    data = data_dir / "xtreme" if target == "xquad" else data_dir
    with RunStore() as store:
        result = run_cell(
            cell(model_dir, data, tmp_path, tiny_train, target_task=target, languages=[language], source_task=source),
            store,
        )
        (run,) = store.query(target_task=target)
    assert run.metric == metric and 0 <= run.score <= 100 and run.target_language == language
    artefact = json.loads(result.artefact.read_text())  # type: ignore[union-attr]
    assert ("phase1" in artefact["phases"]) == (source != "none")
    assert ("phase2" in artefact["phases"]) == (target not in ("tatoeba", "bucc"))
    if target == "xquad":
        assert set(artefact["metrics"]["swa"]) == {"f1", "exact_match", "f1_se", "exact_match_se"}


def test_resume_skips_a_stored_cell_and_restarts_from_a_checkpoint(
    model_dir: Path, data_dir: Path, tmp_path: Path, tiny_train: TrainConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    train = dataclasses.replace(tiny_train, save_steps=1, keep_models=True)
    cfg = cell(model_dir, data_dir, tmp_path, train, target_task="xnli", languages=["swa"], source_task="sst2")
    with monkeypatch.context() as patch:  # a phase deletes its checkpoints when done: keep them here
        patch.setattr(phase_code, "remove_checkpoints", lambda phase_dir: None)
        with RunStore() as store:
            first = run_cell(cfg, store)
            again = run_cell(dataclasses.replace(cfg, resume=True), store)
            assert again.skipped and store.count(target_task="xnli") == 1
    # A crash in phase 2 after its last checkpoint: phase 1 is reused, phase 2 resumes from it.
    out = tmp_path / first.cell_id
    (out / "phase2" / "done.json").unlink()
    resumed = run_cell(dataclasses.replace(cfg, resume=True), store=None)
    phases = json.loads(resumed.artefact.read_text())["phases"]  # type: ignore[union-attr]
    assert "reused" in phases["phase1"]
    assert phases["phase2"]["resumed_from"].endswith("checkpoint-2") and phases["phase2"]["steps"] == 2


def test_phase1_encoder_is_shared_by_targets_while_its_fingerprint_matches(
    model_dir: Path, data_dir: Path, tmp_path: Path, tiny_train: TrainConfig
) -> None:
    def phase1_of(target: str, language: str, train: TrainConfig) -> dict[str, object]:
        cfg = cell(model_dir, data_dir, tmp_path, train, target_task=target, languages=[language], source_task="sst2")
        return json.loads(run_cell(cfg).artefact.read_text())["phases"]["phase1"]  # type: ignore[union-attr]

    assert phase1_of("xcopa", "swa", tiny_train)["steps"] == 2
    (shared,) = tmp_path.glob("tiny-xlmr.*/_phase1/sst2.eng/seed1")
    assert phase1_of("panx", "yor", tiny_train)["reused"] == str(shared)
    assert phase1_of("panx", "yor", dataclasses.replace(tiny_train, max_steps=1))["steps"] == 1  # knobs changed


def test_bad_target_file_fails_before_training(
    model_dir: Path, data_dir: Path, tmp_path: Path, tiny_train: TrainConfig
) -> None:
    data = tmp_path / "data"
    (data / "xnli").mkdir(parents=True)
    (data / "xnli" / "train-eng.jsonl").write_text((data_dir / "xnli" / "train-eng.jsonl").read_text())
    (data / "xnli" / "test-swa.jsonl").write_text(
        '{"text_a": "a", "text_b": "b", "label": 0}\n{"text_a": "a", "text_b": 7, "label": 0}\n'
    )
    with pytest.raises(InvalidData) as info:
        run_cell(cell(model_dir, data, tmp_path / "out", tiny_train, target_task="xnli", languages=["swa"]))
    assert info.value.path.endswith("test-swa.jsonl") and info.value.line == 2 and info.value.field == "text_b"
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_gpu_cell_in_bf16(model_dir: Path, data_dir: Path, tmp_path: Path, tiny_train: TrainConfig) -> None:
    train = dataclasses.replace(tiny_train, use_cpu=False)
    result = run_cell(
        cell(model_dir, data_dir, tmp_path, train, target_task="xnli", languages=["swa"], source_task="mnli")
    )
    artefact = json.loads(result.artefact.read_text())  # type: ignore[union-attr]
    assert artefact["environment"]["device"] != "cpu" and artefact["phases"]["phase2"]["steps"] == 2
