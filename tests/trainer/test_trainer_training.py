"""Training mechanics: loss scaling, the global batch, heads, the multi-task sampler, windows, the recipe,
English-dev checks and frozen embeddings."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from trainer_fixtures import write_jsonl
from transformers import AutoTokenizer

from feature_store.errors import InvalidRequest
from feature_store.runs.store import RunStore
from trainer.cell.loop import CellTrainer, per_device_batch, training_args
from trainer.cell.model import MultiTaskModel, ProportionalBatchSampler, _EpochLoader, load_encoder, load_head_model
from trainer.cell.recipe import phase_recipe
from trainer.cell.run import run_cell
from trainer.cell.tokens import collator, encode, word_windows
from trainer.config import CellConfig, TrainConfig
from trainer.data.tasks import NLI_LABELS, known_task


def _spy_losses(trainer: CellTrainer) -> tuple[list[float], list[float]]:
    computed: list[float] = []
    backpropagated: list[float] = []
    compute, backward = trainer.compute_loss, trainer.accelerator.backward

    def spy_compute(*args: object, **kwargs: object) -> object:
        out = compute(*args, **kwargs)  # type: ignore[arg-type]
        computed.append(float((out[0] if isinstance(out, tuple) else out).detach()))
        return out

    def spy_backward(loss: torch.Tensor, **kwargs: object) -> None:
        backpropagated.append(float(loss.detach()))
        backward(loss, **kwargs)

    trainer.compute_loss = spy_compute  # type: ignore[method-assign]
    trainer.accelerator.backward = spy_backward  # type: ignore[method-assign]
    return computed, backpropagated


@pytest.mark.parametrize("accepts_loss_kwargs", [False, True])
def test_gradient_accumulation_divides_the_loss(
    model_dir: Path, data_dir: Path, tmp_path: Path, tiny_train: TrainConfig, accepts_loss_kwargs: bool
) -> None:
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    rows = [json.loads(line) for line in (data_dir / "xnli" / "train-eng.jsonl").read_text().splitlines()]
    examples = [{**r, "label": i % 3} for i, r in enumerate(rows)]
    cfg = dataclasses.replace(tiny_train, gradient_accumulation_steps=4, max_steps=1)
    model = load_head_model(model_dir, "pair", NLI_LABELS, "sdpa")
    if accepts_loss_kwargs:  # what transformers 5 assumes of a forward with **kwargs: the bug
        model.accepts_loss_kwargs = True
    args = training_args(cfg, tmp_path, 1, epochs=1, batch_size=8, multi_task=False)
    features = encode(examples, "pair", tokenizer, cfg, train=True).features
    pad = collator("pair", tokenizer, False)
    trainer = CellTrainer(model=model, args=args, train_dataset=features, data_collator=pad)
    computed, backpropagated = _spy_losses(trainer)
    trainer.train()
    assert len(computed) == len(backpropagated) == 4  # one update of 4 micro-batches of 2
    scale = 1.0 if accepts_loss_kwargs else 0.25
    assert backpropagated == pytest.approx([c * scale for c in computed], rel=1e-5)


def test_batch_size_is_the_global_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = TrainConfig(gradient_accumulation_steps=2)
    assert per_device_batch(cfg, 32) == 16
    monkeypatch.setenv("WORLD_SIZE", "8")
    assert per_device_batch(cfg, 32) == 2
    with pytest.raises(InvalidRequest, match="not divisible"):
        per_device_batch(cfg, 24)


def test_phase1_heads_start_from_the_models_initializer_range(model_dir: Path) -> None:
    encoder = load_encoder(model_dir, "sdpa")
    model = MultiTaskModel(encoder, [("pair", 3), ("tagging", 4), ("qa", 0)])
    dense = model.heads[0][1]
    assert float(dense.weight.detach().std()) == pytest.approx(encoder.config.initializer_range, rel=0.2)
    linears = [m for m in model.heads.modules() if isinstance(m, torch.nn.Linear)]
    assert all(float(m.bias.detach().abs().max()) == 0.0 for m in linears)


def test_multi_task_sampler_shards_across_ranks_and_changes_order_each_epoch() -> None:
    tasks = [0] * 16 + [1] * 8
    shards = [ProportionalBatchSampler(tasks, 4, seed=1, rank=r, world=2) for r in (0, 1)]
    first = [list(s) for s in shards]
    assert len(first[0]) == len(first[1]) == len(shards[0]) == 3
    seen = [i for shard in first for b in shard for i in b]
    assert len(seen) == len(set(seen)) == 24  # disjoint, and together the whole epoch
    loader = _EpochLoader(list(range(24)), batch_sampler=shards[0])
    loader.set_epoch(1)  # what the Trainer calls every epoch
    assert shards[0].epoch == 1 and list(shards[0]) != first[0]


def test_multi_task_training_sets_the_epoch(
    model_dir: Path, data_dir: Path, tmp_path: Path, tiny_train: TrainConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    epochs: list[int] = []
    original = ProportionalBatchSampler.set_epoch

    def spy(self: ProportionalBatchSampler, epoch: int) -> None:
        epochs.append(epoch)
        original(self, epoch)

    monkeypatch.setattr(ProportionalBatchSampler, "set_epoch", spy)
    train = dataclasses.replace(tiny_train, max_steps=-1, epochs=2)
    run_cell(
        CellConfig(
            model=model_dir,
            data=data_dir,
            target_task="xcopa",
            languages=["swa"],
            source_task="sst2",
            out=tmp_path,
            train=train,
        )
    )
    assert epochs[:2] == [0, 1]


def test_long_sentences_are_split_into_windows_not_truncated(model_dir: Path, tiny_train: TrainConfig) -> None:
    assert word_windows([3, 3, 3, 3], 7) == [(0, 2), (2, 4)]
    assert word_windows([9, 1], 4) == [(0, 1), (1, 2)]  # a word longer than the budget gets its own window
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    words = ("the cat sees a big red house in paris and " * 8).split()
    cfg = dataclasses.replace(tiny_train, max_seq_length=16)
    enc = encode([{"tokens": words, "tags": [0] * len(words)}], "tagging", tokenizer, cfg, train=True)
    assert len(enc.features) > 1 and set(enc.example_index) == {0}
    assert all(len(f["input_ids"]) <= 16 for f in enc.features)
    assert all(f >= 0 for f, _ in enc.word_positions[0])  # every word has its first sub-token somewhere


def test_the_x_stilts_recipe() -> None:
    def recipe(*ids: str, **knobs: object) -> tuple[float, int]:
        r = phase_recipe(TrainConfig(**knobs), [known_task(i) for i in ids])  # type: ignore[misc]
        return r.epochs, r.batch_size

    assert recipe("xnli") == (2, 32) and recipe("pawsx") == (5, 32) and recipe("udpos") == (10, 32)
    assert recipe("panx") == (10, 32) and recipe("xquad") == (2, 16) and recipe("mlqa") == (2, 16)
    assert recipe("mnli") == (3, 32) and recipe("squad", "mnli") == (3, 32)
    assert recipe("udpos", epochs=1, batch_size=8) == (1, 8)
    cfg = TrainConfig()
    assert (cfg.learning_rate, cfg.max_seq_length, cfg.qa_max_seq_length, cfg.doc_stride) == (1e-5, 256, 384, 128)
    assert (cfg.retrieval_layer, cfg.retrieval_max_length) == (None, 512)


def test_retrieval_layer_follows_jiant() -> None:
    from trainer.cell.evaluate import retrieval_layer

    assert retrieval_layer(TrainConfig(), 24) == 14 and retrieval_layer(TrainConfig(), 12) == 7
    assert retrieval_layer(TrainConfig(retrieval_layer=13), 24) == 13


def test_a_phase_that_ends_near_chance_is_flagged(
    model_dir: Path, data_dir: Path, tmp_path: Path, tiny_train: TrainConfig
) -> None:
    data = tmp_path / "data"
    (data / "xnli").mkdir(parents=True)
    for name in ("train-eng.jsonl", "test-swa.jsonl"):
        (data / "xnli" / name).write_text((data_dir / "xnli" / name).read_text())
    rows = [{"text_a": "the cat", "text_b": "a dog", "label": "neutral"}] * 9  # the majority guess scores 90
    rows.append({"text_a": "the sun", "text_b": "a moon", "label": "entailment"})
    write_jsonl(data / "xnli" / "dev-eng.jsonl", rows)
    train = dataclasses.replace(tiny_train, max_steps=1, learning_rate=1e-9)
    with RunStore() as store:
        result = run_cell(
            CellConfig(model=model_dir, data=data, target_task="xnli", languages=["swa"], out=tmp_path, train=train),
            store,
        )
        (run,) = store.query(target_task="xnli")
    check = result.dev["phase2"]
    assert check["chance"] == 90.0 and check["near_chance"] and check["examples"] == 10
    assert run.flags == "near_chance:phase2" and "near chance" in result.warnings[0]
    artefact = json.loads(result.artefact.read_text())  # type: ignore[union-attr]
    assert artefact["english_dev"]["phase2"]["near_chance"] and artefact["warnings"]
    assert artefact["phases"]["phase2"]["dev_selection"]["history"]  # evaluated during training too


def test_freeze_embeddings(model_dir: Path, data_dir: Path, tmp_path: Path, tiny_train: TrainConfig) -> None:
    train = dataclasses.replace(tiny_train, freeze_embeddings=True, keep_models=True)
    result = run_cell(
        CellConfig(
            model=model_dir, data=data_dir, target_task="sentiment", languages=["swa"], out=tmp_path, train=train
        )
    )
    phase2 = json.loads(result.artefact.read_text())["phases"]["phase2"]  # type: ignore[union-attr]
    assert phase2["frozen_parameters"] > 0
    before = load_encoder(model_dir, "sdpa").get_input_embeddings().weight
    after = load_encoder(tmp_path / result.cell_id / "phase2" / "model", "sdpa").get_input_embeddings().weight
    assert torch.equal(before, after)
    assert list((tmp_path / "_features").glob("*.pkl"))  # tokenised training data cached for other cells


def test_fp16_where_the_gpu_has_no_bf16_and_no_per_step_syncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trainer.cell import loop

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert loop.precision(TrainConfig()) == (False, True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert loop.precision(TrainConfig()) == (True, False)
    assert loop.precision(TrainConfig(use_cpu=True)) == (False, False)
    monkeypatch.undo()
    args = training_args(TrainConfig(use_cpu=True), tmp_path, 1, epochs=1, batch_size=32, multi_task=False)
    assert not args.include_num_input_tokens_seen or args.include_num_input_tokens_seen == "no"
    assert args.logging_nan_inf_filter is False


def test_phase1_heads_are_evaluated_on_their_english_dev(
    model_dir: Path, data_dir: Path, tmp_path: Path, tiny_train: TrainConfig
) -> None:
    import shutil

    data = tmp_path / "data"
    shutil.copytree(data_dir, data)
    shutil.copy(data / "sst2" / "train-eng.jsonl", data / "sst2" / "dev-eng.jsonl")
    shutil.copy(data / "hellaswag" / "train-eng.jsonl", data / "hellaswag" / "dev-eng.jsonl")
    result = run_cell(
        CellConfig(
            model=model_dir,
            data=data,
            target_task="udpos",
            languages=["swa"],
            source_task="sst2+hellaswag",
            out=tmp_path / "out",
            train=tiny_train,
        )
    )
    assert set(result.dev) == {"phase1:sst2", "phase1:hellaswag"}
    assert result.dev["phase1:hellaswag"]["chance"] == 25.0 and result.dev["phase1:sst2"]["examples"] == 8
    selection = json.loads(result.artefact.read_text())["phases"]["phase1"]["dev_selection"]  # type: ignore[union-attr]
    assert selection["metric"] == "mean" and {"sst2", "hellaswag"} <= set(selection["history"][0])


def test_an_encoder_trained_elsewhere_that_learned_nothing_flags_the_cells_that_reuse_it(
    model_dir: Path, data_dir: Path, tmp_path: Path, tiny_train: TrainConfig
) -> None:
    data = tmp_path / "data"
    for task, names in (("mnli", ("train-eng.jsonl",)), ("xnli", ("train-eng.jsonl", "test-swa.jsonl")),
                        ("xcopa", ("train-eng.jsonl", "test-swa.jsonl"))):  # fmt: skip
        (data / task).mkdir(parents=True)
        for name in names:
            (data / task / name).write_text((data_dir / task / name).read_text())
    rows = [{"text_a": "the cat", "text_b": "a dog", "label": "neutral"}] * 9  # the majority guess scores 90
    rows.append({"text_a": "the sun", "text_b": "a moon", "label": "entailment"})
    write_jsonl(data / "mnli" / "dev-eng.jsonl", rows)
    train = dataclasses.replace(tiny_train, max_steps=1, learning_rate=1e-9)
    cell = CellConfig(model=model_dir, data=data, target_task="xnli", languages=["swa"], source_task="mnli",
                      out=tmp_path, train=train, resume=True)  # fmt: skip
    with RunStore() as store:
        first = run_cell(cell, store)  # trains the MNLI encoder and checks it on English dev
        second = run_cell(dataclasses.replace(cell, target_task="xcopa"), store)  # reuses that encoder
        (run,) = store.query(target_task="xcopa")
    assert first.dev["phase1:mnli"]["near_chance"]
    check = second.dev["phase1:mnli"]
    assert check["near_chance"] and check["chance"] == 90.0 and check["from"] == "the encoder's dev selection"
    assert "near_chance:phase1:mnli" in run.flags.split(",")
    from trainer.matrix.summary import cell_rows

    rows = cell_rows(tmp_path)  # `stepstone train cells`: the matrix's provenance, one row per phase
    (p1,) = [r for r in rows if r["phase"] == 1]
    assert p1["source_task"] == "mnli" and p1["near_chance"] is True and p1["dev_chance"] == 90.0
    assert {(r["source_task"], r["target_task"]) for r in rows if r["phase"] == 2} == {
        ("mnli", "xnli"),
        ("mnli", "xcopa"),
    }
    # each cell's scores carry their sampling error over the test sentences (one language each here)
    assert all(isinstance(r["eval_se"], float) and r["eval_se"] > 0 for r in rows if r["phase"] == 2)
